"""Reading candidate replies with a learned model (see docs/understanding.md).

- `corpus`: the labelled replies shipped in `data/` and their train/dev/test split.
- `features`: what the model looks at (character n-grams, jieba words, rule cues).
- `model`: `IntentModel` (intent + concerns + calibrated confidence + `sure`) and the
  model file shipped inside the package (`shipped_model()`).
- `served`: which model reads replies (`served_model`, `served_model_name`), numpy only.
- `training`: `train`, `evaluate`, the no-worse gate `train_and_gate` (scikit-learn).

The rules in bot/understanding/rules.py stay for what is certain (menu digits, button values,
empty text) and as the fallback.
"""
