"""
Hashing: the bits of one perceptual hash of an image, and everything built from them.

- algorithms: algorithm name -> bits, exactly as txtai.pipeline.ImageHash computes them; default thresholds
- combined: the combined hash (difference + perceptual bits of one thumbnail) and its 8 flips and rotations
- trim: the region of an image inside uniform borders
- codec: hex hashes <-> bits <-> 64-bit words
- variants: the raw, trimmed, zoomed and dihedral hashes of one image, for indexing and queries
- batch: a hash function over a stream of images, in worker processes, with reduced-size JPEG decoding
"""
