"""txtai-imagehash"""
