"""
Colour module: the pixels that normalize=True hashes: 8-bit sRGB or grey levels with no transparency.
"""

import functools

from io import BytesIO

import numpy as np

from PIL import Image, ImageCms

# Backgrounds that transparent pixels are composited onto by convert(): white, unless the picture is light on
# transparency (a white shape in the alpha channel, as overlay wallpapers are), which only shows on black
BACKGROUND = (255, 255, 255)
CONTRAST = (0, 0, 0)


def convert(image):
    """
    Converts an image to 8-bit sRGB pixels with no transparency: colours with an embedded ICC profile (Display P3,
    Adobe RGB, CMYK press profiles, ...) are converted to sRGB, transparent pixels are composited onto white (onto
    black when the picture shows more there: light shapes whose form is in the alpha channel), 16 and 32-bit grey
    levels are scaled to 8 bits, CMYK, palette and other modes become RGB. (Decoders of 10 and 12-bit
    HEIC and AVIF images already scale them to 8 bits.)

    Args:
        image: PIL image

    Returns:
        PIL image in mode RGB or L
    """

    image = srgb(image)
    mode = image.mode
    if mode in ("RGB", "L"):
        return image

    # Transparency: composite on the background the picture shows on
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return composite(rgba, background(rgba))

    # High bit depth grey levels: scale to 8 bits by the range of the stored type
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max() <= 65535 else values.max()
        top = 1.0 if mode == "F" and values.max() <= 1.0 else top
        return Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")

    return image.convert("RGB")


def composite(rgba, color):
    """
    Composites an RGBA image onto a background colour.

    Args:
        rgba: RGBA PIL image
        color: RGB background colour

    Returns:
        RGB PIL image
    """

    return Image.alpha_composite(Image.new("RGBA", rgba.size, color + (255,)), rgba).convert("RGB")


def background(rgba):
    """
    Chooses the background of a transparent image: white, unless the image shows more contrast on black (compared
    on a small copy).

    Args:
        rgba: RGBA PIL image

    Returns:
        RGB colour
    """

    small = rgba.copy()
    small.thumbnail((64, 64))
    spread = [float(np.asarray(composite(small, color).convert("L"), dtype=np.float64).std()) for color in (BACKGROUND, CONTRAST)]
    return CONTRAST if spread[1] > 2 * spread[0] + 1 else BACKGROUND


# Built-in sRGB profile: the colour space of hashed pixels with normalize=True
SRGB = ImageCms.createProfile("sRGB")


def srgb(image):
    """
    Converts an image with an embedded ICC profile to sRGB. Images without a profile, or with an sRGB profile, are
    returned as they are; so are grey images and profiles that cannot be read.

    Args:
        image: PIL image

    Returns:
        PIL image
    """

    profile = image.info.get("icc_profile")
    if not profile or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image

    transform = transformer(profile, image.mode)
    if transform is None:
        return image

    converted = ImageCms.applyTransform(image, transform)
    converted.info = {key: value for key, value in image.info.items() if key != "icc_profile"}
    return converted


@functools.lru_cache(maxsize=16)
def transformer(profile, mode):
    """
    Builds the transform of an ICC profile to sRGB, once per profile.

    Args:
        profile: ICC profile bytes
        mode: image mode (RGB, RGBA or CMYK)

    Returns:
        ImageCms transform, or None for sRGB profiles and profiles that cannot be read
    """

    try:
        source = ImageCms.ImageCmsProfile(BytesIO(profile))
        if "srgb" in (ImageCms.getProfileDescription(source) or "").lower().replace(" ", ""):
            return None
        return ImageCms.buildTransform(source, SRGB, mode, "RGBA" if mode == "RGBA" else "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
