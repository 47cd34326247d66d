"""
Keypoints: the optional local-feature stage. ORB keypoints and their binary descriptors (128 bits), a faiss binary
index mapping descriptors to images, candidate images ranked by descriptor votes and verified by an affine fit.
Finds the original of crops that global hashes cannot. Needs the `keypoints` extra (opencv-python-headless).

- features: keypoint detection and descriptors
- descriptors: the faiss binary descriptor index (flat, then IVF), built with bounded memory
- verify: the affine fit that confirms a match
- graph: the index in txtai's graph slot (`"graph": {"backend": "txtai_imagehash.keypoints.Keypoints"}`)
"""

from .descriptors import Descriptors
from .features import Features, available, cv2
from .graph import BACKEND, CANDIDATES, Keypoints, keypointconfig
from .verify import Fit, fit, verify

__all__ = ["BACKEND", "CANDIDATES", "Descriptors", "Features", "Fit", "Keypoints", "available", "cv2", "fit", "keypointconfig", "verify"]
