"""What Pillow's ImageOps.exif_transpose does, for exif_test.go.

    pillow.py orient FILE...       JSON list, one entry per file: the
                                   orientation exif_transpose acts on (1 when
                                   it leaves the image as stored) and the
                                   size it returns, or the error it raises
    pillow.py transpose SRC OUT    for each orientation 1-8: SRC (a PNG) saved
                                   as a PNG with that EXIF orientation, opened
                                   again, exif_transpose'd and written as
                                   OUT/<orientation>.png
"""
import json
import os
import sys
import warnings

from PIL import Image, ImageOps

METHODS = {2, 3, 4, 5, 6, 7, 8}


def orient(paths):
    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                o = im.getexif().get(0x0112)
                up = ImageOps.exif_transpose(im)
                out.append({"orientation": int(o) if o in METHODS else 1, "size": list(up.size)})
        except Exception as e:  # what a caller of exif_transpose would meet
            out.append({"error": f"{type(e).__name__}: {e}"})
    print(json.dumps(out))


def transpose(src, outdir):
    for o in range(1, 9):
        with Image.open(src) as im:
            exif = Image.Exif()
            exif[0x0112] = o
            tagged = os.path.join(outdir, f"tagged{o}.png")
            im.save(tagged, exif=exif.tobytes())
        with Image.open(tagged) as im:
            mode = "L" if im.mode in ("L", "I", "I;16") else "RGB"
            ImageOps.exif_transpose(im).convert(mode).save(os.path.join(outdir, f"{o}.png"))


if __name__ == "__main__":
    warnings.simplefilter("ignore")  # corrupt-EXIF cases are meant
    if sys.argv[1] == "orient":
        orient(sys.argv[2:])
    else:
        transpose(sys.argv[2], sys.argv[3])
