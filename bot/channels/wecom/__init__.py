"""WeCom: the app (企业微信应用), 微信客服 and the HR group robot (docs/wecom.md)."""
