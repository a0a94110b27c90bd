"""PIPL erasure shared by DELETE /api/v1/candidates/{id} and /forget (foundation stub)."""
