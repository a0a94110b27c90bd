"""Binding a platform user to a candidate (invite codes, kf entry links). Owned by issue 3/5."""
