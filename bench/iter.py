"""PyTorch side of `bench -suite iter`: full optimize_parameters() iterations
of the reference's cycle_gan and pix2pix models, with the networks built by
networks/testdata/refnets.py, and of CUT's cut_model.py in CUT and FastCUT
mode (cut, fastcut), with CUT's networks and PatchNCE loss from
networks/testdata/cutnets.py, and of pix2pixHD's train.py (pix2pixhd,
SIZE WIDTHxHEIGHT) with its networks and losses from
parity/testdata/hd_ref.py: default networks and options, batch 1,
in-memory data. Prints JSON with per-iteration seconds, peak RSS and the
convolution FLOPs of the first iteration (side.FLOPCounter).

usage: iter.py MODEL SIZE STEPS THREADS [--device cpu|cuda|cuda:N] [--precision fp32|bf16|fp16] [--width N]

--width (pix2pixhd, for smoke tests): ngf and ndf (default pix2pixHD's 64).
"""
import itertools
import random

import torch

import side

args = side.parse(("model", str), ("size", str), options=(("--width", int, 0),))
model, dev = args.model, args.dev
# SIZE: N (N×N) or, for pix2pixhd, WIDTHxHEIGHT.
width, _, height = args.size.lower().partition("x")
width = int(width)
height = int(height) if height else width
size = width
refnets = side.refnets()
counter = None
random.seed(0)


def init(net, kind="normal"):
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            if kind == "xavier":
                torch.nn.init.xavier_normal_(m.weight, gain=0.02)
            else:
                torch.nn.init.normal_(m.weight, 0, 0.02)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.normal_(m.weight, 1, 0.02)
            torch.nn.init.zeros_(m.bias)
    return net.to(dev).train()


def net(spec):
    return init(refnets.build(spec))


def requires_grad(nets, flag):
    for n in nets:
        for p in n.parameters():
            p.requires_grad = flag


mse, l1, bce = torch.nn.MSELoss(), torch.nn.L1Loss(), torch.nn.BCEWithLogitsLoss()


def gan(loss, pred, real):
    return loss(pred, torch.full_like(pred, 1.0 if real else 0.0))


a = (torch.rand(1, 3, height, width) * 2 - 1).to(dev)
b = (torch.rand(1, 3, height, width) * 2 - 1).to(dev)
if model == "cycle_gan":
    G = dict(norm="instance", dropout=False, **{"in": 3, "out": 3, "nf": 64, "net": "resnet_9blocks"})
    D = dict(norm="instance", **{"in": 3, "nf": 64, "net": "basic"})
    GA, GB, DA, DB = net(G), net(G), net(D), net(D)
    optG = torch.optim.Adam(itertools.chain(GA.parameters(), GB.parameters()), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(itertools.chain(DA.parameters(), DB.parameters()), lr=2e-4, betas=(0.5, 0.999))
    counter = side.FLOPCounter([GA, GB, DA, DB])

    def step():
        fake_b = GA(a); rec_a = GB(fake_b); fake_a = GB(b); rec_b = GA(fake_a)
        requires_grad([DA, DB], False)
        optG.zero_grad()
        idt_a = GA(b); idt_b = GB(a)
        loss = (gan(mse, DA(fake_b), True) + gan(mse, DB(fake_a), True) + l1(rec_a, a) * 10 + l1(rec_b, b) * 10
                + l1(idt_a, b) * 10 * 0.5 + l1(idt_b, a) * 10 * 0.5)
        loss.backward()
        optG.step()
        requires_grad([DA, DB], True)
        optD.zero_grad()
        for d, real, fake in ((DA, b, fake_b), (DB, a, fake_a)):
            ((gan(mse, d(real), True) + gan(mse, d(fake.detach()), False)) * 0.5).backward()
        optD.step()
elif model == "pix2pix":
    G = net(dict(norm="batch", dropout=True, **{"in": 3, "out": 3, "nf": 64, "net": "unet_%d" % size}))
    D = net(dict(norm="batch", **{"in": 6, "nf": 64, "net": "basic"}))
    optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    counter = side.FLOPCounter([G, D])

    def step():
        fake_b = G(a)
        requires_grad([D], True)
        optD.zero_grad()
        fake_ab = torch.cat((a, fake_b), 1)
        ((gan(bce, D(fake_ab.detach()), False) + gan(bce, D(torch.cat((a, b), 1)), True)) * 0.5).backward()
        optD.step()
        requires_grad([D], False)
        optG.zero_grad()
        (gan(bce, D(fake_ab), True) + l1(fake_b, b) * 100).backward()
        optG.step()
elif model in ("cut", "fastcut"):
    # CUT's train defaults: resnet_9blocks with anti-aliased down- and
    # upsampling and instance norm, the anti-aliased basic D, lsgan, xavier
    # initialisation (gain 0.02), no dropout, netF mlp_sample with 256
    # channels, 256 patches on layers 0,4,8,12,16, nce_T 0.07. CUT mode:
    # identity NCE on real_B, lambda_NCE 1; FastCUT: no identity NCE,
    # lambda_NCE 10, flip equivariance.
    cutnets = side.cutnets()
    fast = model == "fastcut"
    nce_idt, lambda_nce, flip = not fast, 10.0 if fast else 1.0, fast
    layers, num_patches = [0, 4, 8, 12, 16], 256
    G = init(cutnets.Generator(dict(norm="instance", ngf=64, blocks=9, dropout=False, no_antialias=False,
                                    no_antialias_up=False, **{"in": 3, "out": 3})), "xavier")
    D = init(cutnets.Discriminator(dict(norm="instance", ndf=64, n_layers=3, no_antialias=False, **{"in": 3})), "xavier")
    # CUT makes netF's heads at the first batch (data_dependent_initialize)
    # from the features' channel counts, and optimizer_F after them.
    with torch.no_grad():
        channels = [f.shape[1] for f in G(torch.zeros(1, 3, 32, 32, device=dev), layers, encode_only=True)]
    Fn = init(cutnets.Sampler(True, 256, channels), "xavier")
    optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optF = torch.optim.Adam(Fn.parameters(), lr=2e-4, betas=(0.5, 0.999))
    counter = side.FLOPCounter([G, D], {
        cutnets.Blur: lambda m, x, y: y.numel() * m.filt.shape[1:].numel(),
        cutnets.BlurUp: lambda m, x, y: x.shape[0] * x.shape[1] * (x.shape[2] + 2) * (x.shape[3] + 2) * m.filt.shape[1:].numel(),
    })

    def calculate_nce_loss(src, tgt, flipped):
        feat_q = G(tgt, layers, encode_only=True)
        if flipped:
            feat_q = [torch.flip(f, [3]) for f in feat_q]
        feat_k = G(src, layers, encode_only=True)
        # CUT's np.random.permutation(H*W)[:num_patches] per layer, shared
        # by the keys and the queries.
        ids = [torch.randperm(f.shape[2] * f.shape[3])[:num_patches].tolist() for f in feat_k]
        pool_k, pool_q = Fn(feat_k, ids), Fn(feat_q, ids)
        total = 0.0
        for q, k in zip(pool_q, pool_k):
            total += (cutnets.patch_nce(q, k, 0.07, 1) * lambda_nce).mean()
        return total / len(layers)

    def step():
        n = a.size(0)
        real = torch.cat((a, b), 0) if nce_idt else a
        flipped = flip and random.random() < 0.5
        if flipped:
            real = torch.flip(real, [3])
        fake = G(real)
        fake_b = fake[:n]
        idt_b = fake[n:] if nce_idt else None
        requires_grad([D], True)
        optD.zero_grad()
        ((gan(mse, D(fake_b.detach()), False).mean() + gan(mse, D(b), True).mean()) * 0.5).backward()
        optD.step()
        requires_grad([D], False)
        optG.zero_grad()
        optF.zero_grad()
        loss_gan = gan(mse, D(fake_b), True).mean() * 1.0
        nce = calculate_nce_loss(a, fake_b, flipped)
        both = (nce + calculate_nce_loss(b, idt_b, flipped)) * 0.5 if nce_idt else nce
        (loss_gan + both).backward()
        optG.step()
        optF.step()
elif model == "pix2pixhd":
    # pix2pixHD's train.py with its defaults on RGB images, the simplest
    # setting with all its networks (--label_nc 0 --no_instance, 3 channels
    # in and out, so D sees 6): the global generator (ngf 64, 4
    # downsamplings, 9 blocks, instance norm), MultiscaleDiscriminator
    # (num_D 2, n_layers_D 3, ndf 64, intermediate features), lsgan, feature
    # matching and the VGG19 loss (lambda_feat 10), pool_size 0 (the pool
    # returns its input). The VGG19 weights are PyTorch's random
    # initialisation: the cost does not depend on them.
    hd = side.hdref()
    nf = args.width or 64
    o = hd.options(label_nc=0, no_instance=True, input_nc=3, output_nc=3, ngf=nf, ndf=nf, pool_size=0)
    nets = hd.build(o)
    G, D = nets["G"].to(dev).train(), nets["D"].to(dev).train()
    vgg = hd.VGG19().to(dev)
    form = hd.gan_form(o)
    optG = torch.optim.Adam(hd.g_params(o, G, None), lr=o["lr"], betas=(o["beta1"], 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=o["lr"], betas=(o["beta1"], 0.999))
    counter = side.FLOPCounter([G, D, vgg])

    def step():
        # Pix2PixHDModel.forward: one forward with the current weights
        # gives every loss (hd_ref.train_step's order) ...
        input_label, real = a, b
        fake = G(input_label)
        pred_fake_pool = D(torch.cat((input_label, fake.detach()), 1))
        loss_D_fake = hd.gan_loss(pred_fake_pool, False, form)
        pred_real = D(torch.cat((input_label, real.detach()), 1))
        loss_D_real = hd.gan_loss(pred_real, True, form)
        # pix2pixHD's D keeps requires_grad here, so the G pass below also
        # computes D's weight gradients (which the D step's zero_grad then
        # discards); cyclepix's OptimizeParameters leaves D's parameters
        # out of that pass. The reference's work is done here, and its
        # extra FLOPs are counted apart (bench names them in a note).
        with counter.extra_work():
            pred_fake = D(torch.cat((input_label, fake), 1))
        loss_G_GAN = hd.gan_loss(pred_fake, True, form)
        loss_G_feat = hd.feature_matching(pred_fake, pred_real, o["num_D"], o["n_layers_D"], o["lambda_feat"])
        loss_G_VGG = hd.vgg_loss(vgg, fake, real) * o["lambda_feat"]
        # ... then train.py: the G step, then the D step with D's gradient
        # at the weights of the forward.
        loss_D = (loss_D_fake + loss_D_real) * 0.5
        loss_G = loss_G_GAN + loss_G_feat + loss_G_VGG
        optG.zero_grad()
        loss_G.backward()
        optG.step()
        optD.zero_grad()
        loss_D.backward()
        optD.step()
else:
    raise SystemExit("iter.py: unknown model %r (want pix2pix, cycle_gan, cut, fastcut or pix2pixhd)" % model)

side.timed(args, step, warmup=1, counter=counter)
