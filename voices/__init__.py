"""Everything voice: VITS synthesis, voice profiles, dataset preparation, fine-tuning (coming)."""
