"""From filters to a point cloud: normalise, density filter rho(k, p), prepare points."""
