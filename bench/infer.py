"""PyTorch side of `bench -suite infer`: one generator translating images
(batch 1, no autograd, as the reference's test.py with --model test), the
network built by networks/testdata/refnets.py (CUT's by cutnets.py,
pix2pixHD's by parity/testdata/hd_ref.py). Prints JSON with per-image
seconds and peak RSS.

usage: infer.py NETG SIZE STEPS THREADS [--device cpu|cuda|cuda:N] [--precision fp32|bf16|fp16]
"""
import torch

import side

args = side.parse(("netG", str), ("size", int))
dev = args.dev
refnets = side.refnets()

if args.netG == "cut_resnet_9blocks":  # CUT's anti-aliased ResNet-9
    g = side.cutnets().Generator(dict(norm="instance", ngf=64, blocks=9, dropout=False, no_antialias=False,
                                      no_antialias_up=False, **{"in": 3, "out": 3}))
elif args.netG == "hd_global":  # pix2pixHD's default global generator
    g = side.hdref().define_G(3, 3, 64, "global", 4, 9)
else:
    norm = "batch" if args.netG.startswith("unet") else "instance"
    g = refnets.build({"net": args.netG, "in": 3, "out": 3, "nf": 64, "norm": norm, "dropout": False})
g = g.to(dev)
for p in g.parameters():
    torch.nn.init.normal_(p, 0, 0.02)
g.eval()
x = (torch.rand(1, 3, args.size, args.size) * 2 - 1).to(dev)

with torch.no_grad():
    side.timed(args, lambda: g(x).float(), warmup=1)
