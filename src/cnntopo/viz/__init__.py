"""Pictures and pages drawn from computed results: barcodes, Mapper graphs with filter
thumbnails, evolution grids, Klein-bottle densities, the HTML graph view and the report."""
