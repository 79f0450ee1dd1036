"""Reading rasters from files, band sets and bytes."""
