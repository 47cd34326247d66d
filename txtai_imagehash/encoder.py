"""
Encoder module: stores image objects in a txtai content database as their original encoded bytes.
"""

from io import BytesIO

from txtai.database.encoder import ImageEncoder as TxtaiImageEncoder


class ImageEncoder(TxtaiImageEncoder):
    """
    Encodes images as their original file bytes when known (see txtai_imagehash.images.encoded), otherwise
    as txtai's ImageEncoder does, with PNG for images created in memory. Decodes to PIL images, as txtai does, that
    keep the stored bytes as their `encoded` attribute: stored again (reindex) or served by `txtai-imagehash serve`,
    they are the original file's bytes, not a re-encoding. Configure with
    `"objects": "txtai_imagehash.encoder.ImageEncoder"`.
    """

    def encode(self, obj):
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return bytes(obj)

        data = getattr(obj, "encoded", None)
        if data:
            return data

        if not obj.format:
            output = BytesIO()
            obj.save(output, format="PNG")
            return output.getvalue()

        return super().encode(obj)

    def decode(self, data):
        image = super().decode(data)
        if image is not None:
            image.encoded = bytes(data)

        return image
