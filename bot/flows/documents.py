"""Onboarding documents flow (SPEC §2.2). Owned by issue 6."""
