"""The reference's test.py on JPEG photographs, without the reference:
its data path (Image.open(path).convert('RGB'), Resize with Pillow's
BICUBIC, ToTensor, Normalize), a generator of the reference's architecture
(networks/testdata/refnets.py) and its util.tensor2im + save_image, written
independently from their description.

usage: reference_test_jpeg.py photos OUTDIR
       writes JPEG photographs (scikit-image's samples, in several JPEG
       variants and odd sizes) to OUTDIR
usage: reference_test_jpeg.py run SPEC_JSON WEIGHTS.pth LOAD_SIZE INDIR OUTDIR
       writes OUTDIR/<stem>_fake.png for every image of INDIR
"""
import json
import os
import sys

import numpy as np
import skimage.data
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "networks", "testdata"))
import refnets  # noqa: E402


def photos(out):
    os.makedirs(out, exist_ok=True)
    astronaut = Image.fromarray(skimage.data.astronaut())
    chelsea = Image.fromarray(skimage.data.chelsea())
    coffee = Image.fromarray(skimage.data.coffee())
    camera = Image.fromarray(skimage.data.camera())
    astronaut.crop((96, 40, 352, 296)).save(os.path.join(out, "astronaut_q95_444.jpg"), quality=95, subsampling=0)
    chelsea.save(os.path.join(out, "chelsea_q75_420.jpg"), quality=75)
    coffee.crop((0, 0, 301, 211)).save(os.path.join(out, "coffee_progressive.jpg"), quality=90, progressive=True)
    chelsea.crop((50, 20, 187, 143)).save(os.path.join(out, "chelsea_q85_422.jpg"), quality=85, subsampling=1)
    camera.crop((100, 100, 229, 229)).save(os.path.join(out, "camera_grey.jpg"), quality=90)
    astronaut.convert("CMYK").crop((0, 0, 160, 120)).save(os.path.join(out, "astronaut_cmyk.jpg"), quality=90)


def run(spec, weights, load, indir, outdir):
    net = refnets.build(json.loads(spec))
    net.load_state_dict(torch.load(weights, weights_only=True), strict=True)
    net.eval()
    os.makedirs(outdir, exist_ok=True)
    for name in sorted(os.listdir(indir)):
        img = Image.open(os.path.join(indir, name)).convert("RGB")
        img = img.resize((load, load), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float().div(255)
        x = ((x - 0.5) / 0.5).unsqueeze(0)
        with torch.no_grad():
            y = net(x)
        im = (np.transpose(y[0].float().numpy(), (1, 2, 0)) + 1) / 2.0 * 255.0
        stem = os.path.splitext(name)[0]
        Image.fromarray(im.astype(np.uint8)).save(os.path.join(outdir, stem + "_fake.png"))


if __name__ == "__main__":
    if sys.argv[1] == "photos":
        photos(sys.argv[2])
    else:
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6])
