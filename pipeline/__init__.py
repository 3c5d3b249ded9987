"""Dataset construction: RAVDESS (and the generated corpus) -> fitted mesh sequences -> HDF5 splits."""
