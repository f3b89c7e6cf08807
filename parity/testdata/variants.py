"""Writes a parity fixture folder of cases with other options, sizes and
batch sizes than the public set, in the layout of ../shared/parity's
README (index.json, one folder per case, case.json, .pth and .npy files),
so that the harness can be shown to build every case from its own
description.

The networks come from ../../networks/testdata/refnets.py (the reference's
define_G/define_D) and cutnets.py (CUT's), written independently from the
projects' descriptions; the iterations follow the README's "sequence" of
each kind (CycleGANModel, Pix2PixModel, CUTModel.optimize_parameters),
PyTorch's Adam and lr_scheduler, and Pillow for preprocessing. One CUT case
is made so that netF gets an all-zero feature row (ngf 2, a tap after a
ReLU): its reference gradients hold NaN where CUT's normalisation puts
them, the deliberate difference the harness must recognise.

The pix2pixHD cases (hd_forward, hd_train_step, hd_lr) come from
hd_ref.py beside this file, written from the fixture README's pix2pixHD
section: local enhancers, batch norm, label maps with instance edges,
encoded instance or label features, vanilla GAN, no feature matching or
VGG loss, the 512-channel cap of the discriminator, other schedules.

usage: variants.py OUT_DIR
"""
import copy
import json
import os
import random
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "..", "networks", "testdata"))
sys.path.insert(0, HERE)
import cutnets  # noqa: E402
import hd_ref  # noqa: E402
import refnets  # noqa: E402

torch.set_num_threads(1)
OUT = sys.argv[1]
INDEX = {}


# ---------------------------------------------------------------- files

def case_dir(name):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    return d


def save_npy(d, files, name, t, what=""):
    a = t.detach().numpy() if isinstance(t, torch.Tensor) else t
    np.save(os.path.join(d, name), a)
    files[name] = {"type": "npy", "dtype": str(a.dtype), "shape": list(a.shape), "description": what}


def save_pth(d, files, name, sd, what="", **extra):
    torch.save(sd, os.path.join(d, name))
    files[name] = dict({"type": "pth", "description": what,
                        "entries": {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                                    for k, v in sd.items()}}, **extra)


def write_case(name, kind, fields, files):
    d = case_dir(name)
    fields = dict(fields, case=name, kind=kind, files=files,
                  environment={"torch": torch.__version__, "generator": "parity/testdata/variants.py"})
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(fields, f, indent=1)
    INDEX[name] = {"kind": kind, "description": fields.get("description", "")}


def state(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


# Every parameter's gradient (zeros where none) and the names that had none.
grads = hd_ref.grads_of


def zero_true(net, norms=(nn.InstanceNorm2d,)):
    """Conv biases that feed an InstanceNorm2d (or another of norms, e.g. a
    BatchNorm2d in train mode) directly: their exact gradient is 0."""
    out = []
    for prefix, m in net.named_modules():
        if not isinstance(m, nn.Sequential):
            continue
        kids = list(m.named_children())
        for (n, a), (_, b) in zip(kids, kids[1:]):
            if isinstance(a, (nn.Conv2d, nn.ConvTranspose2d)) and a.bias is not None and isinstance(b, norms):
                out.append((prefix + "." if prefix else "") + n + ".bias")
    return out


def init_ref(net, seed, bias_scale=0.01):
    """The reference's normal init (N(0, 0.02) weights, BatchNorm N(1, 0.02)),
    with small random biases so that they count, and non-trivial running
    statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.02)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * bias_scale)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + torch.randn(m.weight.shape, generator=g) * 0.02)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.02)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(1 + torch.rand(m.running_var.shape, generator=g))
                m.num_batches_tracked.fill_(7)
    return net


def init_xavier(net, seed, gain=0.02):
    """CUT's init_weights with xavier (normal, gain 0.02), biases 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * gain * (2.0 / (fan_in + fan_out)) ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()
    return net


def images(seed, *shape):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g) * 2 - 1


def gan_loss(mode, pred, real):
    if mode == "lsgan":
        return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, 1.0 if real else 0.0))
    return -pred.mean() if real else pred.mean()


def adam(params, lr, beta1, beta2=0.999):
    return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2))


def ref_spec(net, inc, outc, nf, norm, dropout=False, layers=3):
    return {"net": net, "in": inc, "out": outc, "nf": nf, "norm": norm, "dropout": dropout, "layers": layers}


# ------------------------------------------------------ forward, backward

def forward_case(name, net_args, role, x, seed, description):
    if role == "G":
        spec = ref_spec(net_args["netG"], net_args["input_nc"], net_args["output_nc"], net_args["ngf"],
                        net_args["norm"], net_args["use_dropout"])
    else:
        spec = ref_spec(net_args["netD"], net_args["input_nc"], 1, net_args["ndf"], net_args["norm"],
                        layers=net_args.get("n_layers_D", 3))
    net = init_ref(refnets.build(spec), seed).eval()
    d, files = case_dir(name), {}
    weights = "latest_net_%s.pth" % role
    save_pth(d, files, weights, state(net), "initial weights")
    save_npy(d, files, "input.npy", x)
    with torch.no_grad():
        save_npy(d, files, "output.npy", net(x))
    write_case(name, "forward", {"description": description, "network": dict(net_args, role=role, mode="eval"),
                                 "mode": "eval", "weights_file": weights}, files)


def backward_case(name, net_args, x, seed, description):
    spec = ref_spec(net_args["netG"], net_args["input_nc"], net_args["output_nc"], net_args["ngf"],
                    net_args["norm"], net_args["use_dropout"])
    net = init_ref(refnets.build(spec), seed).train()
    d, files = case_dir(name), {}
    save_pth(d, files, "latest_net_G.pth", state(net), "weights")
    x = x.clone().requires_grad_(True)
    save_npy(d, files, "input.npy", x)
    y = net(x)
    loss = y.abs().mean()
    loss.backward()
    save_npy(d, files, "output.npy", y)
    save_npy(d, files, "grad_input.npy", x.grad)
    g, none = grads(net)
    save_pth(d, files, "grads.pth", g, "d loss / d parameters", zero_true_gradient=zero_true(net), grad_was_none=none)
    write_case(name, "backward", {"description": description, "network": dict(net_args, role="G", mode="train"),
                                  "mode": "train", "loss_definition": "loss = output.abs().mean()",
                                  "loss": loss.item()}, files)


def penalty_case(name, net_args, kind, real, fake, seed, description):
    spec = ref_spec(net_args["netD"], net_args["input_nc"], 1, net_args["ndf"], net_args["norm"],
                    layers=net_args.get("n_layers_D", 3))
    net = init_ref(refnets.build(spec), seed).train()
    d, files = case_dir(name), {}
    save_pth(d, files, "latest_net_D.pth", state(net), "weights")
    save_npy(d, files, "real.npy", real)
    save_npy(d, files, "fake.npy", fake)
    if kind == "real":
        x = real
    elif kind == "fake":
        x = fake
    else:
        alpha = torch.rand(real.shape[0], 1, generator=torch.Generator().manual_seed(seed + 1))
        save_npy(d, files, "alpha.npy", alpha)
        a = alpha.expand(real.shape[0], real.nelement() // real.shape[0]).contiguous().view(*real.shape)
        x = a * real + (1 - a) * fake
    x = x.detach().requires_grad_(True)
    save_npy(d, files, "interpolates.npy", x)
    out = net(x)
    save_npy(d, files, "d_interpolates.npy", out)
    g = torch.autograd.grad(outputs=out, inputs=x, grad_outputs=torch.ones(out.size()), create_graph=True,
                            retain_graph=True, only_inputs=True)[0]
    g = g.view(real.size(0), -1)
    penalty = (((g + 1e-16).norm(2, dim=1) - 1.0) ** 2).mean() * 10.0
    penalty.backward()
    gr, none = grads(net)
    save_pth(d, files, "grads.pth", gr, "d penalty / d parameters", zero_true_gradient=zero_true(net),
             grad_was_none=none)
    write_case(name, "gradient_penalty", {"description": description,
                                          "network": dict(net_args, role="D", mode="train"),
                                          "penalty_call": {"type": kind, "constant": 1.0, "lambda_gp": 10.0},
                                          "penalty": penalty.item()}, files)


# ------------------------------------------------------------ train steps

def cmdline(opts):
    out = ["--dataroot", "UNUSED", "--name", "variant"]
    for k, v in opts.items():
        if isinstance(v, bool):
            if v:
                out.append("--" + k)
        else:
            out += ["--" + k, str(v)]
    return out


def save_step_nets(d, files, nets, before, opt_grads, zero):
    for n, net in nets.items():
        save_pth(d, files, "latest_net_%s.pth" % n, before[n], "initial weights")
        g, none = opt_grads[n]
        save_pth(d, files, "grads_net_%s.pth" % n, g, "gradients the optimizer used",
                 zero_true_gradient=zero[n], grad_was_none=none)
        save_pth(d, files, "after_net_%s.pth" % n, state(net), "weights after the step")


def in_float64(nets, tensors):
    """Copies of nets and tensors in float64, for the conditioning check."""
    return ({k: copy.deepcopy(v).double() for k, v in nets.items()},
            {k: (v.double() if isinstance(v, torch.Tensor) and v.is_floating_point() else v) for k, v in tensors.items()})


def check_conditioning(name, r32, r64, zero):
    """A case is usable when float32 is close to float64 on it: gradients
    within 3e-4 of each tensor's largest (the README saw up to 3.4e-4 on its
    own train steps; the harness allows 1e-3), losses
    and images within 1e-5, ignoring the exact-zero gradients and the NaN
    that both compute. Otherwise rounding alone would decide the test."""
    for k, v in r32["losses"].items():
        w = float(r64["losses"][k])
        if abs(float(v) - w) > 1e-5 * max(abs(w), 1e-3):
            raise SystemExit("%s: loss %s float32 %r vs float64 %r: ill-conditioned case" % (name, k, float(v), w))
    for net, (g32, _) in r32["grads"].items():
        g64 = r64["grads"][net][0]
        top = max(float(t.double().nan_to_num().abs().max()) for t in g64.values())
        for k, t in g32.items():
            if k in zero.get(net, []):
                continue
            ref = g64[k].double()
            finite = torch.isfinite(ref)
            m = float(ref[finite].abs().max()) if finite.any() else 0.0
            if m < 1e-6 * top:
                continue
            err = float((t.double()[finite] - ref[finite]).abs().max())
            if err > 3e-4 * m:
                raise SystemExit("%s: %s grad %s float32 vs float64 %.3g of its max: ill-conditioned case" % (name, net, k, err / m))


def cycle_gan_step(o, nets, t):
    G_A, G_B, D_A, D_B = nets["G_A"], nets["G_B"], nets["D_A"], nets["D_B"]
    real_A, real_B = t["real_A"], t["real_B"]
    lA, lB, li = o["lambda_A"], o["lambda_B"], o["lambda_identity"]
    opt_G = adam(list(G_A.parameters()) + list(G_B.parameters()), o["lr"], o["beta1"])
    opt_D = adam(list(D_A.parameters()) + list(D_B.parameters()), o["lr"], o["beta1"])
    captured = {}
    fake_B = G_A(real_A)
    rec_A = G_B(fake_B)
    fake_A = G_B(real_B)
    rec_B = G_A(fake_A)
    for p in list(D_A.parameters()) + list(D_B.parameters()):
        p.requires_grad_(False)
    opt_G.zero_grad()
    visuals = {"fake_B": fake_B, "rec_A": rec_A, "fake_A": fake_A, "rec_B": rec_B}
    if li > 0:
        idt_A = G_A(real_B)
        loss_idt_A = F.l1_loss(idt_A, real_B) * lB * li
        idt_B = G_B(real_A)
        loss_idt_B = F.l1_loss(idt_B, real_A) * lA * li
        visuals.update(idt_A=idt_A, idt_B=idt_B)
    else:
        loss_idt_A = loss_idt_B = torch.tensor(0.0)
    loss_G_A = gan_loss(o["gan_mode"], D_A(fake_B), True)
    loss_G_B = gan_loss(o["gan_mode"], D_B(fake_A), True)
    loss_cycle_A = F.l1_loss(rec_A, real_A) * lA
    loss_cycle_B = F.l1_loss(rec_B, real_B) * lB
    (loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B).backward()
    captured["G_A"], captured["G_B"] = grads(G_A), grads(G_B)
    opt_G.step()
    for p in list(D_A.parameters()) + list(D_B.parameters()):
        p.requires_grad_(True)
    opt_D.zero_grad()

    def backward_d(net, real, fake):
        loss = (gan_loss(o["gan_mode"], net(real), True) + gan_loss(o["gan_mode"], net(fake.detach()), False)) * 0.5
        loss.backward()
        return loss

    loss_D_A = backward_d(D_A, real_B, fake_B)
    loss_D_B = backward_d(D_B, real_A, fake_A)
    captured["D_A"], captured["D_B"] = grads(D_A), grads(D_B)
    opt_D.step()
    losses = {"D_A": loss_D_A, "G_A": loss_G_A, "cycle_A": loss_cycle_A, "idt_A": loss_idt_A,
              "D_B": loss_D_B, "G_B": loss_G_B, "cycle_B": loss_cycle_B, "idt_B": loss_idt_B}
    return {"visuals": visuals, "losses": losses, "grads": captured}


def pix2pix_step(o, nets, t):
    G, D = nets["G"], nets["D"]
    real_A, real_B = t["real_A"], t["real_B"]
    opt_G, opt_D = adam(G.parameters(), o["lr"], o["beta1"]), adam(D.parameters(), o["lr"], o["beta1"])
    captured = {}
    fake_B = G(real_A)
    opt_D.zero_grad()
    loss_D_fake = gan_loss(o["gan_mode"], D(torch.cat((real_A, fake_B), 1).detach()), False)
    loss_D_real = gan_loss(o["gan_mode"], D(torch.cat((real_A, real_B), 1)), True)
    ((loss_D_fake + loss_D_real) * 0.5).backward()
    captured["D"] = grads(D)
    opt_D.step()
    for p in D.parameters():
        p.requires_grad_(False)
    opt_G.zero_grad()
    loss_G_GAN = gan_loss(o["gan_mode"], D(torch.cat((real_A, fake_B), 1)), True)
    loss_G_L1 = F.l1_loss(fake_B, real_B) * o["lambda_L1"]
    (loss_G_GAN + loss_G_L1).backward()
    captured["G"] = grads(G)
    opt_G.step()
    losses = {"G_GAN": loss_G_GAN, "G_L1": loss_G_L1, "D_real": loss_D_real, "D_fake": loss_D_fake}
    return {"visuals": {"fake_B": fake_B}, "losses": losses, "grads": captured}


def ref_step_case(name, model, o, nets, seed, n, size, description, implied=()):
    """One iteration of a reference model on fresh images, checked in float64
    and written as a train_step case."""
    before = {k: state(v) for k, v in nets.items()}
    t = {"real_A": images(seed + 4, n, o["input_nc"], size, size), "real_B": images(seed + 5, n, o["output_nc"], size, size)}
    zero = {k: zero_true(v) for k, v in nets.items()}
    nets64, t64 = in_float64(nets, t)
    step = cycle_gan_step if model == "cycle_gan" else pix2pix_step
    r32 = step(o, nets, t)
    check_conditioning(name, r32, step(o, nets64, t64), zero)
    d, files = case_dir(name), {}
    save_npy(d, files, "real_A.npy", t["real_A"])
    save_npy(d, files, "real_B.npy", t["real_B"])
    for k, v in r32["visuals"].items():
        save_npy(d, files, k + ".npy", v)
    save_step_nets(d, files, nets, before, r32["grads"], zero)
    opts = dict(o, model=model, pool_size=0, batch_size=n, no_dropout=True)
    given = {k: v for k, v in opts.items() if k not in implied}
    write_case(name, "train_step", {"description": description, "command_line": cmdline(given), "options": opts,
                                    "losses": {k: float(v) for k, v in r32["losses"].items()}}, files)


def cycle_gan_case(name, o, seed, n, size, description):
    norm = o["norm"]
    nets = {"G_A": init_ref(refnets.build(ref_spec(o["netG"], o["input_nc"], o["output_nc"], o["ngf"], norm)), seed),
            "G_B": init_ref(refnets.build(ref_spec(o["netG"], o["output_nc"], o["input_nc"], o["ngf"], norm)), seed + 1),
            "D_A": init_ref(refnets.build(ref_spec(o["netD"], o["output_nc"], 1, o["ndf"], norm, layers=o["n_layers_D"])), seed + 2),
            "D_B": init_ref(refnets.build(ref_spec(o["netD"], o["input_nc"], 1, o["ndf"], norm, layers=o["n_layers_D"])), seed + 3)}
    ref_step_case(name, "cycle_gan", o, nets, seed, n, size, description)


def pix2pix_case(name, o, seed, n, size, description, model="pix2pix", implied=()):
    norm = o["norm"]
    nets = {"G": init_ref(refnets.build(ref_spec(o["netG"], o["input_nc"], o["output_nc"], o["ngf"], norm)), seed),
            "D": init_ref(refnets.build(ref_spec(o["netD"], o["input_nc"] + o["output_nc"], 1, o["ndf"], norm,
                                                 layers=o["n_layers_D"])), seed + 1)}
    ref_step_case(name, model, o, nets, seed, n, size, description, implied)


# -------------------------------------------------------------------- CUT

CUT_DEFAULTS = {"ngf": 64, "ndf": 64, "netG": "resnet_9blocks", "normG": "instance", "normD": "instance",
                "no_antialias": False, "no_antialias_up": False, "n_layers_D": 3, "netD": "basic"}


def cut_nets(o, seed, with_d=True):
    blocks = int(o["netG"][len("resnet_"):-len("blocks")])
    g = cutnets.Generator({"in": o.get("input_nc", 3), "out": o.get("output_nc", 3), "ngf": o["ngf"],
                           "norm": o["normG"], "blocks": blocks, "dropout": False,
                           "no_antialias": o["no_antialias"], "no_antialias_up": o["no_antialias_up"]})
    init_xavier(g, seed)
    if not with_d:
        return g, None
    nl = 3 if o["netD"] == "basic" else o["n_layers_D"]
    dn = cutnets.Discriminator({"in": o.get("output_nc", 3), "ndf": o["ndf"], "n_layers": nl, "norm": o["normD"],
                                "no_antialias": o["no_antialias"]})
    init_xavier(dn, seed + 1)
    return g, dn


def cut_forward_case(name, args, role, layers, x, seed, description):
    o = dict(CUT_DEFAULTS, **args)
    g, dn = cut_nets(o, seed)
    net = (g if role == "G" else dn).eval()
    d, files = case_dir(name), {}
    sd = state(net)
    save_pth(d, files, "latest_net_%s.pth" % role, sd, "weights")
    save_npy(d, files, "input.npy", x)
    with torch.no_grad():
        save_npy(d, files, "output.npy", net(x))
        if role == "G":
            for i, f in enumerate(g(x, layers, encode_only=True)):
                save_npy(d, files, "feat_%d.npy" % i, f)
    write_case(name, "cut_forward", {"description": description, "command_line": cmdline(args), "network": role,
                                     "nce_layers": layers,
                                     "state_dict": {k: {"shape": list(v.shape), "dtype": "float32"} for k, v in sd.items()}},
               files)


def cut_options(args):
    o = dict(CUT_DEFAULTS, lambda_GAN=1.0, nce_T=0.07, netF="mlp_sample", netF_nc=256, num_patches=256,
             nce_layers="0,4,8,12,16", lr=0.0002, beta1=0.5, beta2=0.999, gan_mode="lsgan",
             nce_includes_all_negatives_from_minibatch=False)
    if args.get("CUT_mode", "CUT") == "CUT":
        o.update(CUT_mode="CUT", nce_idt=True, lambda_NCE=1.0, flip_equivariance=False)
    else:
        o.update(CUT_mode="FastCUT", nce_idt=False, lambda_NCE=10.0, flip_equivariance=True)
    o.update(args)
    return o


def cut_step(o, nets, t, flip, ids_in):
    """CUTModel.optimize_parameters(); ids_in replays the patch ids of an
    earlier run (None: draw them with NumPy, as CUT does)."""
    G, Fn, D = nets["G"], nets["F"], nets["D"]
    real_A, real_B = t["real_A"], t["real_B"]
    n = real_A.shape[0]
    layers = [int(v) for v in o["nce_layers"].split(",")]
    opt_G = adam(G.parameters(), o["lr"], o["beta1"], o["beta2"])
    opt_D = adam(D.parameters(), o["lr"], o["beta1"], o["beta2"])
    opt_F = adam(Fn.parameters(), o["lr"], o["beta1"], o["beta2"]) if o["netF"] == "mlp_sample" else None
    ids_drawn = []
    rng = np.random.RandomState(1)

    def nce(src, tgt, flipped):
        fq = G(tgt, layers, encode_only=True)
        if flipped:
            fq = [torch.flip(f, [3]) for f in fq]
        fk = G(src, layers, encode_only=True)
        if ids_in is None:
            ids = [rng.permutation(f.shape[2] * f.shape[3])[:min(o["num_patches"], f.shape[2] * f.shape[3])] for f in fk]
        else:
            ids = ids_in[len(ids_drawn)]
        ids_drawn.append(ids)
        pk, pq = Fn(fk, ids), Fn(fq, ids)
        batch = 1 if o["nce_includes_all_negatives_from_minibatch"] else n
        total = 0.0
        for q, k in zip(pq, pk):
            total += (cutnets.patch_nce(q, k, o["nce_T"], batch) * o["lambda_NCE"]).mean()
        return total / len(layers)

    flipped = bool(o["flip_equivariance"] and flip)
    real = torch.cat((real_A, real_B), 0) if o["nce_idt"] else real_A
    if flipped:
        real = torch.flip(real, [3])
    fake = G(real)
    fake_B = fake[:n]
    visuals = {"fake_B": fake_B}
    if o["nce_idt"]:
        visuals["idt_B"] = fake[n:]
    captured = {}
    opt_D.zero_grad()
    loss_D_fake = gan_loss(o["gan_mode"], D(fake_B.detach()), False).mean()
    loss_D_real = gan_loss(o["gan_mode"], D(real_B), True).mean()
    ((loss_D_fake + loss_D_real) * 0.5).backward()
    captured["D"] = grads(D)
    opt_D.step()
    for p in D.parameters():
        p.requires_grad_(False)
    opt_G.zero_grad()
    if opt_F:
        opt_F.zero_grad()
    loss_G_GAN = gan_loss(o["gan_mode"], D(fake_B), True).mean() * o["lambda_GAN"]
    loss_NCE = nce(real_A, fake_B, flipped)
    losses = {}
    if o["nce_idt"]:
        loss_NCE_Y = nce(real_B, visuals["idt_B"], flipped)
        both = (loss_NCE + loss_NCE_Y) * 0.5
        losses["NCE_Y"] = loss_NCE_Y
    else:
        both = loss_NCE
    loss_G = loss_G_GAN + both
    loss_G.backward()
    captured["G"], captured["F"] = grads(G), grads(Fn)
    opt_G.step()
    if opt_F:
        opt_F.step()
    losses.update(G_GAN=loss_G_GAN, D_real=loss_D_real, D_fake=loss_D_fake, G=loss_G, NCE=loss_NCE)
    return {"visuals": visuals, "losses": losses, "grads": captured, "ids": ids_drawn, "flipped": flipped}


def cut_step_case(name, args, seed, n, size, flip, description):
    o = cut_options(args)
    layers = [int(v) for v in o["nce_layers"].split(",")]
    G, D = cut_nets(o, seed)
    t = {"real_A": images(seed + 2, n, o.get("input_nc", 3), size, size),
         "real_B": images(seed + 3, n, o.get("output_nc", 3), size, size)}
    with torch.no_grad():
        chans = [f.shape[1] for f in G(t["real_A"], layers, encode_only=True)]
    Fn = init_xavier(cutnets.Sampler(o["netF"] == "mlp_sample", o["netF_nc"], chans), seed + 4)
    nets = {"G": G, "F": Fn, "D": D}
    before = {k: state(v) for k, v in nets.items()}
    zero = {"G": zero_true(G), "F": [], "D": zero_true(D)}
    nets64, t64 = in_float64(nets, t)
    r = cut_step(o, nets, t, flip, None)
    # The features CUT's NCE takes at a tap that is a conv output get a
    # real gradient through its bias (see the harness's trueZeroGrads).
    taps = {"model.%d.bias" % l for l in layers}
    check_conditioning(name, r, cut_step(o, nets64, t64, flip, r["ids"]),
                       {k: [b for b in v if b not in taps] for k, v in zero.items()})
    d, files = case_dir(name), {}
    save_npy(d, files, "real_A.npy", t["real_A"])
    save_npy(d, files, "real_B.npy", t["real_B"])
    for k, v in r["visuals"].items():
        save_npy(d, files, k + ".npy", v)
    for c, ids in enumerate(r["ids"]):
        for l, v in enumerate(ids):
            save_npy(d, files, "patch_ids_c%d_l%d.npy" % (c, l), np.asarray(v, dtype=np.int64))
    for k, net in nets.items():
        save_pth(d, files, "latest_net_%s.pth" % k, before[k], "weights before the step")
        save_pth(d, files, "grads_net_%s.pth" % k, r["grads"][k][0], "gradients the optimizer used")
        save_pth(d, files, "after_net_%s.pth" % k, state(net), "weights after the step")
    write_case(name, "cut_train_step", {
        "description": description, "command_line": cmdline(dict(args, model="cut", batch_size=n)),
        "options": {k: o[k] for k in ("CUT_mode", "nce_idt", "lambda_NCE", "lambda_GAN", "flip_equivariance", "netF",
                                      "netF_nc", "num_patches", "nce_layers", "nce_T", "ngf", "ndf", "netG", "netD",
                                      "normG", "normD", "no_antialias", "no_antialias_up", "lr", "beta1", "beta2",
                                      "gan_mode", "nce_includes_all_negatives_from_minibatch")},
        "flipped_for_equivariance": r["flipped"], "nce_calls": len(r["ids"]),
        "losses": {k: float(v) for k, v in r["losses"].items()},
        "zero_true_gradient": {"grads_net_%s.pth" % k: v for k, v in zero.items()}}, files)


# ------------------------------------------------------------- preprocess

def get_params(opt, size):
    w, h = size
    new_w, new_h = w, h
    if opt["preprocess"] == "resize_and_crop":
        new_w = new_h = opt["load_size"]
    elif opt["preprocess"] == "scale_width_and_crop":
        new_w, new_h = opt["load_size"], opt["load_size"] * h // w
    x = random.randint(0, max(0, new_w - opt["crop_size"]))
    y = random.randint(0, max(0, new_h - opt["crop_size"]))
    return {"crop_pos": [x, y], "flip": random.random() > 0.5}


def transform(img, opt, params, gray):
    if gray:
        img = img.convert("L")
    p = opt["preprocess"]
    if "resize" in p:
        img = img.resize((opt["load_size"], opt["load_size"]), Image.BICUBIC)
    elif "scale_width" in p:
        w, h = img.size
        if not (w == opt["load_size"] and h >= opt["crop_size"]):
            img = img.resize((opt["load_size"], int(max(opt["load_size"] * h / w, opt["crop_size"]))), Image.BICUBIC)
    if "crop" in p:
        ow, oh = img.size
        x, y = params["crop_pos"]
        cs = opt["crop_size"]
        if ow > cs or oh > cs:
            img = img.crop((x, y, x + cs, y + cs))
    if p == "none":
        ow, oh = img.size
        w, h = int(round(ow / 4) * 4), int(round(oh / 4) * 4)
        if (w, h) != (ow, oh):
            img = img.resize((w, h), Image.BICUBIC)
    if not opt["no_flip"] and params["flip"]:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return img


def preprocess_case(name):
    d, files = case_dir(name), {}
    rs = np.random.RandomState(7)
    sources = []
    for i, (w, h) in enumerate([(70, 30), (37, 53), (24, 20)]):
        fn = "src_%d_%dx%d.png" % (i, w, h)
        Image.fromarray(rs.randint(0, 256, (h, w, 3), dtype=np.uint8)).save(os.path.join(d, fn))
        files[fn] = {"type": "png", "width": w, "height": h}
        sources.append(fn)
    variants = {
        "crop_c40": {"preprocess": "crop", "load_size": 64, "crop_size": 40, "no_flip": False},
        "scale_width_and_crop_l32_c36": {"preprocess": "scale_width_and_crop", "load_size": 32, "crop_size": 36, "no_flip": True},
        "resize_and_crop_l36_c36": {"preprocess": "resize_and_crop", "load_size": 36, "crop_size": 36, "no_flip": False},
        "scale_width_l40_c16": {"preprocess": "scale_width", "load_size": 40, "crop_size": 16, "no_flip": True},
        "none_gray": {"preprocess": "none", "load_size": 64, "crop_size": 64, "no_flip": False},
    }
    results = []
    for k, fn in enumerate(sources):
        src = Image.open(os.path.join(d, fn)).convert("RGB")
        for v, opt in variants.items():
            random.seed(1000 * k + len(results))
            params = get_params(opt, src.size)
            gray = v.endswith("gray")
            img = transform(src, opt, params, gray)
            base = "%s__%s" % (fn[:-4], v)
            img.save(os.path.join(d, "pil_" + base + ".png"))
            a = np.asarray(img, dtype=np.uint8)
            a = a[:, :, None] if a.ndim == 2 else a
            t = (torch.from_numpy(a.transpose(2, 0, 1).copy()).float() / 255 - 0.5) / 0.5
            save_npy(d, files, "out_" + base + ".npy", t[None])
            results.append({"image": fn, "variant": v, "opt": opt, "grayscale": gray, "params": params,
                            "pil_intermediate": "pil_" + base + ".png", "output": "out_" + base + ".npy"})
    write_case(name, "preprocess", {"description": "get_params + get_transform on small images: crops past the border and images smaller than the crop", "results": results}, files)


# ------------------------------------------------------------------- lr

def lr_case(name):
    d = case_dir(name)
    sched = {}
    for policy, extra in [("linear", {"n_epochs": 2, "n_epochs_decay": 5, "epoch_count": 3}),
                          ("step", {"lr_decay_iters": 3}), ("cosine", {"n_epochs": 5}), ("plateau", {})]:
        opt = dict({"lr": 0.001, "beta1": 0.5, "epoch_count": 1, "n_epochs": 4, "n_epochs_decay": 4,
                    "lr_decay_iters": 50, "lr_policy": policy}, **extra)
        o = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=opt["lr"])
        if policy == "linear":
            s = torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1.0 - max(0, e + opt["epoch_count"] - opt["n_epochs"]) / float(opt["n_epochs_decay"] + 1))
        elif policy == "step":
            s = torch.optim.lr_scheduler.StepLR(o, step_size=opt["lr_decay_iters"], gamma=0.1)
        elif policy == "cosine":
            s = torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=opt["n_epochs"], eta_min=0)
        else:
            s = torch.optim.lr_scheduler.ReduceLROnPlateau(o, mode="min", factor=0.2, threshold=0.01, patience=5)
        initial = o.param_groups[0]["lr"]
        after, metrics = [], []
        for _ in range(12):
            if policy == "plateau":
                s.step(0.0)
                metrics.append(0.0)
            else:
                s.step()
            after.append(o.param_groups[0]["lr"])
        sched["%s_variant" % policy] = {"opt": opt, "initial_lr": initial, "lr_after_step": after, "metrics": metrics}
    with open(os.path.join(d, "lr_schedules.json"), "w") as f:
        json.dump(sched, f, indent=1)
    write_case(name, "lr_schedules", {"description": "other epochs, epoch_count, decay and base rate"},
               {"lr_schedules.json": {"type": "json"}})


# -------------------------------------------------------------- pix2pixHD

# The pix2pixHD options every hd case's command line spells out, in order.
HD_FLAGS = ["label_nc", "input_nc", "output_nc", "no_instance", "instance_feat", "label_feat", "feat_num", "nef",
            "n_downsample_E", "netG", "ngf", "n_downsample_global", "n_blocks_global", "n_local_enhancers",
            "n_blocks_local", "norm", "ndf", "num_D", "n_layers_D", "no_ganFeat_loss", "no_vgg_loss", "no_lsgan",
            "lambda_feat", "lr", "beta1", "pool_size", "niter", "niter_decay", "niter_fix_global", "batchSize",
            "loadSize", "fineSize"]


def hd_cmdline(name, o):
    """pix2pixHD's train.py command line for options o (every option given)."""
    out = ["--name", name, "--checkpoints_dir", "./checkpoints", "--gpu_ids", "-1", "--dataroot", "UNUSED",
           "--resize_or_crop", "none", "--no_flip", "--serial_batches", "--nThreads", "0"]
    for k in HD_FLAGS:
        v = o[k]
        if isinstance(v, bool):
            if v:
                out.append("--" + k)
        else:
            out += ["--" + k, repr(v) if isinstance(v, float) else str(v)]
    return out


def hd_fields(name, o, description, **extra):
    return dict({"description": description, "command_line": hd_cmdline(name, o),
                 "options": {k: o[k] for k in sorted(o)},
                 "reference": "parity/testdata/hd_ref.py (pix2pixHD written from the fixture README)"}, **extra)


def hd_maps(seed, n, h, w, classes):
    """A label map of 8-pixel blocks of classes 0..classes-1 and a
    Cityscapes-style instance map: stuff (the lower half of the classes)
    carries its class id, things class*1000+k with k from 4-pixel blocks,
    so that touching instances of one class meet inside a label region.
    Both int32 [N,1,H,W]."""
    g = torch.Generator().manual_seed(seed)

    def blocks(hi, size):
        c = torch.randint(0, hi, (n, 1, -(-h // size), -(-w // size)), generator=g)
        return c.repeat_interleave(size, 2).repeat_interleave(size, 3)[:, :, :h, :w]

    label = blocks(classes, 8)
    inst = torch.where(label >= max(1, classes // 2), label * 1000 + blocks(3, 4), label)
    return label.to(torch.int32), inst.to(torch.int32)


def hd_batch(o, seed, n, h, w):
    """The batch as pix2pixHD's dataset yields it (float label maps, int32
    instance maps) and the files holding it."""
    b, files = {"image": images(seed, n, o["output_nc"], h, w)}, {}
    label, inst = hd_maps(seed + 1, n, h, w, o["label_nc"] or 5)
    if o["label_nc"] == 0:
        b["label"] = files["label.npy"] = images(seed + 2, n, o["input_nc"], h, w)
    else:
        b["label"] = label.float()
        files["label_map.npy"] = label
    if not o["no_instance"]:
        b["inst"] = files["inst_map.npy"] = inst
    files["real_image.npy"] = b["image"]
    return b, files


def randomize_bn(net, seed):
    """Non-trivial BatchNorm biases and running statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                m.num_batches_tracked.fill_(5)
    return net


def check_forward(name, got32, got64, rtol=3e-6):
    """float32 forward values within rtol of the tensor's largest from
    float64 (the harness allows 1e-5)."""
    for k, t in got32.items():
        ref = got64[k].double()
        m = float(ref.abs().max())
        err = float((t.double() - ref).abs().max())
        if err > rtol * max(m, 1e-12):
            raise SystemExit("%s: %s float32 vs float64 %.3g of its max: ill-conditioned case" % (name, k, err / m))


def hd_forward_case(name, role, o, seed, n, h, w, description):
    torch.manual_seed(seed)
    g_in, d_in = hd_ref.channels(o)
    if role == "G":
        net = hd_ref.define_G(g_in, o["output_nc"], o["ngf"], o["netG"], o["n_downsample_global"],
                              o["n_blocks_global"], o["n_local_enhancers"], o["n_blocks_local"], o["norm"])
    else:
        net = hd_ref.define_D(d_in, o["ndf"], o["n_layers_D"], o["norm"], o["no_lsgan"], o["num_D"],
                              not o["no_ganFeat_loss"])
    net = randomize_bn(net, seed + 1).eval()
    # The input: the label encoding (one-hot, edges) where the options
    # have one, then the image a D judges; uniform elsewhere.
    b, _ = hd_batch(o, seed + 2, n, h, w)
    x = b["label"] if o["label_nc"] == 0 else hd_ref.one_hot(b["label"], o["label_nc"])
    if not o["no_instance"]:
        x = torch.cat((x, hd_ref.get_edges(b["inst"])), 1)
    if role == "D":
        x = torch.cat((x, b["image"]), 1)
    assert x.shape[1] == (g_in if role == "G" else d_in)
    net64 = copy.deepcopy(net).double()
    with torch.no_grad():
        if role == "G":
            out, out64 = {"output.npy": net(x)}, {"output.npy": net64(x.double())}
        else:
            out = {"out_s%d_l%d.npy" % (i, j): t for i, r in enumerate(net(x)) for j, t in enumerate(r)}
            out64 = {"out_s%d_l%d.npy" % (i, j): t for i, r in enumerate(net64(x.double())) for j, t in enumerate(r)}
    check_forward(name, out, out64)
    d, files = case_dir(name), {}
    weights = "latest_net_%s.pth" % role
    sd = state(net)
    save_pth(d, files, weights, sd, "weights, exactly as used for the outputs")
    save_npy(d, files, "input.npy", x, "network input, NCHW")
    for k, t in out.items():
        save_npy(d, files, k, t, "net.eval()(input)")
    network = {"role": role, "mode": "eval"}
    if role == "G":
        network.update({"class": "LocalEnhancer" if o["netG"] == "local" else "GlobalGenerator", "netG_input_nc": g_in})
    else:
        network.update({"class": "MultiscaleDiscriminator", "netD_input_nc": d_in,
                        "getIntermFeat": not o["no_ganFeat_loss"], "use_sigmoid": o["no_lsgan"],
                        "result_layout": "result[i][j]: scale i (input average-pooled i times, parameters of scale "
                                         "num_D-1-i), group j; a Sigmoid ends the last group with use_sigmoid and "
                                         "without getIntermFeat"})
    write_case(name, "hd_forward", hd_fields(name, o, description, network=network, mode="eval",
                                             input_shape=list(x.shape),
                                             outputs={k: list(t.shape) for k, t in out.items()},
                                             state_dict={k: {"shape": list(v.shape), "dtype": str(v.dtype)[6:]}
                                                         for k, v in sd.items()}), files)


_VGG = {}


def hd_vgg(seed):
    if seed not in _VGG:
        _VGG[seed] = hd_ref.vgg_state(seed)
    return _VGG[seed]


def hd_step_case(name, o, seed, n, h, w, description, vgg_seed=None):
    torch.manual_seed(seed)
    nets = hd_ref.build(o)
    for k, v in nets.items():
        randomize_bn(v, seed + 10 + len(k)).train()
    before = {k: state(v) for k, v in nets.items()}
    # Conv biases feeding a norm have an exact-zero gradient: those before
    # an InstanceNorm2d are listed in case.json (the README's rule), those
    # before a train-mode BatchNorm2d are not, and the harness must find
    # them itself.
    listed = {k: zero_true(v) for k, v in nets.items()}
    zero = {k: zero_true(v, (nn.InstanceNorm2d, nn.BatchNorm2d)) for k, v in nets.items()}
    batch, inputs = hd_batch(o, seed + 1, n, h, w)
    vgg = vgg64 = None
    if not o["no_vgg_loss"]:
        vgg = hd_ref.load_vgg(hd_vgg(vgg_seed))
        vgg64 = copy.deepcopy(vgg).double()
    nets64 = {k: copy.deepcopy(v).double() for k, v in nets.items()}
    batch64 = {k: (v.double() if k != "inst" else v) for k, v in batch.items()}
    r = hd_ref.train_step(o, nets, batch, vgg)
    r64 = hd_ref.train_step(o, nets64, batch64, vgg64)
    check_conditioning(name, r, r64, zero)
    views = {"fake_image.npy": r["fake_image"]}
    views64 = {"fake_image.npy": r64["fake_image"]}
    for i in range(o["num_D"]):
        for p in ("pred_real", "pred_fake"):
            views["%s_s%d.npy" % (p, i)], views64["%s_s%d.npy" % (p, i)] = r[p][i], r64[p][i]
    check_forward(name, views, views64)
    # After the step: where the gradient counts, float32 within 3e-4 lr of
    # float64 (the harness allows 1e-3 lr; exact-zero gradients, 2 lr).
    for k, net in nets.items():
        g64 = r64["grads"][k][0]
        after64 = nets64[k].state_dict()
        for key, v in net.state_dict().items():
            ref = after64[key].double()
            if key in zero[k]:
                continue
            if key in g64:
                g = g64[key].abs()
                big = g >= 1e-3 * g.max()
                err = float((v.double() - ref)[big].abs().max()) if big.any() else 0.0
                if err > 3e-4 * o["lr"]:
                    raise SystemExit("%s: %s after %s float32 vs float64 %.3g lr" % (name, k, key, err / o["lr"]))
            elif v.is_floating_point() and float((v.double() - ref).abs().max()) > 5e-7:
                raise SystemExit("%s: %s buffer %s float32 vs float64" % (name, k, key))

    d, files = case_dir(name), {}
    for f, t in inputs.items():
        save_npy(d, files, f, t)
    for k in ("onehot", "edge_map"):
        if k in r:
            save_npy(d, files, k + ".npy", r[k])
    for f, t in views.items():
        save_npy(d, files, f, t)
    for k, net in nets.items():
        save_pth(d, files, "latest_net_%s.pth" % k, before[k], "initial weights (before the step)")
        save_pth(d, files, "grads_net_%s.pth" % k, r["grads"][k][0],
                 "net%s's .grad at optimizer_%s.step()" % (k, "D" if k == "D" else "G"))
        save_pth(d, files, "after_net_%s.pth" % k, state(net), "weights after the iteration")
    extra = {}
    if vgg is not None:
        hd_ref.save_deflated(hd_vgg(vgg_seed), os.path.join(d, "vgg19_features.pth"))
        files["vgg19_features.pth"] = {"type": "pth (zip entries DEFLATE-compressed)",
                                       "description": "VGG19 features of the VGG loss (torchvision keys)"}
        extra["vgg_weights"] = {"file": "vgg19_features.pth", "seed": vgg_seed,
                                "generator": "hd_ref.vgg_state", "weights": hd_ref.VGG_WEIGHTS}
    g_opt = "netG.parameters()"
    if o["niter_fix_global"] > 0:
        g_opt = "netG's model%d_* parameters (niter_fix_global); grads_net_G.pth has every netG parameter's .grad" \
                % o["n_local_enhancers"]
    if "E" in nets:
        g_opt += " + netE.parameters()"
    write_case(name, "hd_train_step", hd_fields(
        name, o, description, **extra,
        input_shape={"N": n, "H": h, "W": w},
        mode="train (every network; BatchNorm uses batch statistics and updates its running statistics on each "
             "of the 1 G, 1 E and 3 D forwards)",
        how_fed={"label": "label.npy (label_nc 0) or label_map.npy as float32", "inst": "inst_map.npy (int32)",
                 "image": "real_image.npy"},
        sequence="hd_ref.train_step: train.py's iteration (one forward with the initial weights; optimizer_G step "
                 "on loss_G; optimizer_D step on loss_D at the initial D), pool_size 0",
        gan_loss={"lsgan": "MSE", "bce": "BCELoss after D's Sigmoid (no_lsgan, no_ganFeat_loss)",
                  "bce_logits": "BCE with logits: no_lsgan with feature matching, where pix2pixHD's D drops its "
                                "Sigmoid (and BCELoss fails); D's outputs are logits"}[hd_ref.gan_form(o)],
        adam={"lr": o["lr"], "betas": [o["beta1"], 0.999], "eps": 1e-8, "optimizer_G_params": g_opt,
              "optimizer_D_params": "netD.parameters()"},
        losses={k: float(v) for k, v in r["losses"].items()},
        zero_true_gradient={"grads_net_%s.pth" % k: v for k, v in listed.items()},
        grad_was_none={"grads_net_%s.pth" % k: r["grads"][k][1] for k in nets}), files)


def hd_lr_case(name, o, description):
    per, after = hd_ref.lr_schedule(o)
    write_case(name, "hd_lr", hd_fields(name, o, description, lr_per_epoch=per, lr_after_last_epoch=after,
                                        rule="train.py: update_fixed_params at the end of epoch niter_fix_global, "
                                             "then update_learning_rate at the end of every epoch > niter"), {})


def hd_cases():
    O = hd_ref.options
    # hd_forward
    hd_forward_case("v_fwd_hd_local1", "G", O(label_nc=0, no_instance=True, netG="local", ngf=4, n_downsample_global=2,
                                              n_blocks_global=2, n_local_enhancers=1, n_blocks_local=2),
                    101, 2, 32, 40, "LocalEnhancer, 1 enhancer (2 blocks), global ngf 8, 3->3, batch 2, 32x40")
    hd_forward_case("v_fwd_hd_local2_labels", "G", O(label_nc=4, netG="local", ngf=2, n_downsample_global=1,
                                                     n_blocks_global=1, n_local_enhancers=2, n_blocks_local=1,
                                                     output_nc=2),
                    102, 1, 40, 32, "LocalEnhancer, 2 enhancers, label_nc 4 + instance edges (5 channels) -> 2, 40x32")
    hd_forward_case("v_fwd_hd_global_batch", "G", O(label_nc=0, input_nc=1, output_nc=2, no_instance=True, ngf=4,
                                                    n_downsample_global=3, n_blocks_global=2, norm="batch"),
                    103, 3, 24, 40, "GlobalGenerator, batch norm with running statistics (eval), 1->2, batch 3, 24x40")
    hd_forward_case("v_fwd_hd_msD3_flat_labels", "D", O(label_nc=4, ndf=4, num_D=3, n_layers_D=2,
                                                        no_ganFeat_loss=True),
                    104, 3, 40, 56, "MultiscaleDiscriminator without intermediate features (layer<k> keys), num_D 3, "
                                    "n_layers_D 2, label_nc 4 + edges + image (8 channels), batch 3, 40x56")
    hd_forward_case("v_fwd_hd_msD_cap512", "D", O(label_nc=0, input_nc=1, output_nc=2, no_instance=True, ndf=272,
                                                  num_D=1, n_layers_D=2, norm="batch"),
                    105, 2, 2, 3, "MultiscaleDiscriminator with intermediate features, ndf 272, n_layers_D 2: "
                                  "272 -> 512 (capped from 544) in a stride-2 group and 512 -> 512 (from 1024) in "
                                  "the last, batch norm (eval), num_D 1, 3 channels; a 2x3 input keeps the "
                                  "8192-term sums well-conditioned in float32")
    hd_forward_case("v_fwd_hd_msD_sigmoid_batch", "D", O(label_nc=0, no_instance=True, ndf=8, num_D=2, n_layers_D=4,
                                                         norm="batch", no_lsgan=True, no_ganFeat_loss=True),
                    106, 2, 48, 40, "MultiscaleDiscriminator with use_sigmoid (no_lsgan, no intermediate features): "
                                    "sigmoid outputs; batch norm running statistics, n_layers_D 4, 48x40")
    # hd_train_step. Discriminators of ndf 8 at least: with 4 filters
    # PyTorch's default conv biases (which pix2pixHD keeps) dwarf the
    # channels' spread before each norm, whose normalisation lifts float32
    # rounding to 4-7e-6 of the D outputs.
    hd_step_case("v_step_hd_labels_batch2", O(label_nc=4, ngf=4, n_downsample_global=2, n_blocks_global=2, ndf=8,
                                              num_D=2, n_layers_D=2, lambda_feat=5.0, lr=0.0001, beta1=0.6,
                                              batchSize=2, loadSize=40, fineSize=40),
                 201, 2, 32, 40, "label_nc 4 + instance edges, batch 2, 32x40, num_D 2 n_layers_D 2, lambda_feat 5, "
                                 "feature matching and VGG", vgg_seed=301)
    hd_step_case("v_step_hd_plain_batchnorm", O(label_nc=0, input_nc=2, no_instance=True, ngf=4, n_downsample_global=1,
                                                n_blocks_global=1, ndf=8, num_D=2, n_layers_D=1, norm="batch",
                                                no_ganFeat_loss=True, no_vgg_loss=True, lr=0.0003, batchSize=2,
                                                loadSize=40, fineSize=40),
                 222, 2, 24, 40, "label_nc 0 (2-channel image in), no instance, no feature matching, no VGG, batch "
                                 "norm (train mode), ndf 8, num_D 2, n_layers_D 1, batch 2, 24x40")
    hd_step_case("v_step_hd_vanilla_sigmoid", O(label_nc=3, no_instance=True, ngf=4, n_downsample_global=2,
                                                n_blocks_global=1, ndf=8, num_D=2, n_layers_D=3, no_lsgan=True,
                                                no_ganFeat_loss=True, loadSize=32, fineSize=32),
                 203, 1, 32, 32, "no_lsgan without feature matching: D ends in a Sigmoid, BCELoss; label_nc 3, "
                                 "no instance, VGG", vgg_seed=302)
    hd_step_case("v_step_hd_vanilla_featmatch", O(label_nc=0, ngf=4, n_downsample_global=2, n_blocks_global=1, ndf=8,
                                                  num_D=2, n_layers_D=2, no_lsgan=True, no_vgg_loss=True,
                                                  lambda_feat=8.0, loadSize=32, fineSize=32),
                 204, 1, 32, 32, "no_lsgan with feature matching, in the intended form (BCE on logits), image + "
                                 "instance edges (label_nc 0), no VGG")
    hd_step_case("v_step_hd_local1", O(label_nc=0, no_instance=True, netG="local", ngf=4, n_downsample_global=1,
                                       n_blocks_global=1, n_local_enhancers=1, n_blocks_local=1, ndf=8, num_D=2,
                                       n_layers_D=2, loadSize=32, fineSize=32),
                 205, 1, 32, 32, "LocalEnhancer (1 enhancer), label_nc 0, feature matching and VGG", vgg_seed=303)
    hd_step_case("v_step_hd_local2_fix_global", O(label_nc=3, netG="local", ngf=2, n_downsample_global=1,
                                                  n_blocks_global=1, n_local_enhancers=2, n_blocks_local=1, ndf=8,
                                                  num_D=2, n_layers_D=2, no_vgg_loss=True, niter_fix_global=2,
                                                  lr=0.0005, loadSize=32, fineSize=32),
                 216, 1, 32, 32, "LocalEnhancer (2 enhancers) with niter_fix_global 2: optimizer_G holds only "
                                 "model2_*; label_nc 3 + edges, no VGG")
    hd_step_case("v_step_hd_instance_feat", O(label_nc=4, instance_feat=True, feat_num=3, nef=4, n_downsample_E=2,
                                              ngf=4, n_downsample_global=2, n_blocks_global=1, ndf=8, num_D=2,
                                              n_layers_D=2, batchSize=2, loadSize=32, fineSize=32),
                 207, 2, 32, 32, "instance_feat: Encoder E (nef 4, n_downsample_E 2, feat_num 3) averaged over "
                                 "instances, in optimizer_G; label_nc 4 + edges, batch 2, VGG", vgg_seed=304)
    hd_step_case("v_step_hd_label_feat", O(label_nc=3, no_instance=True, label_feat=True, feat_num=2, nef=4,
                                           n_downsample_E=1, ngf=4, n_downsample_global=1, n_blocks_global=1, ndf=8,
                                           num_D=1, n_layers_D=2, no_vgg_loss=True, loadSize=32, fineSize=24),
                 208, 1, 24, 32, "label_feat: E's features averaged over label regions, no instance map, num_D 1, "
                                 "no VGG, 24x32")
    # hd_lr
    hd_lr_case("v_lr_hd_2_3", O(label_nc=0, no_instance=True, ngf=4, n_downsample_global=1, n_blocks_global=1, ndf=4,
                                num_D=1, n_layers_D=1, no_vgg_loss=True, niter=2, niter_decay=3, lr=0.001),
               "niter 2, niter_decay 3, lr 1e-3")
    hd_lr_case("v_lr_hd_5_1", O(label_nc=0, no_instance=True, ngf=4, n_downsample_global=1, n_blocks_global=1, ndf=4,
                                num_D=1, n_layers_D=1, no_vgg_loss=True, niter=5, niter_decay=1, lr=0.0003),
               "niter 5, niter_decay 1, lr 3e-4")
    hd_lr_case("v_lr_hd_local_fix_global", O(label_nc=0, no_instance=True, netG="local", ngf=2, n_downsample_global=1,
                                             n_blocks_global=1, n_blocks_local=1, ndf=4, num_D=1, n_layers_D=1,
                                             no_vgg_loss=True, niter=2, niter_decay=3, niter_fix_global=3, lr=0.0007),
               "niter 2, niter_decay 3, lr 7e-4, LocalEnhancer with niter_fix_global 3 (optimizer_G replaced at the "
               "end of epoch 3)")


# ------------------------------------------------------------------ cases

def main():
    forward_case("v_fwd_resnet6_batch_1to3_dropout", {"netG": "resnet_6blocks", "input_nc": 1, "output_nc": 3, "ngf": 4,
                                                      "norm": "batch", "use_dropout": True},
                 "G", images(11, 2, 1, 36, 28), 10, "resnet_6blocks, batch norm, dropout layers, 1->3, batch 2, 36x28")
    forward_case("v_fwd_unet256_none", {"netG": "unet_256", "input_nc": 3, "output_nc": 2, "ngf": 2, "norm": "none",
                                        "use_dropout": False},
                 "G", images(12, 1, 3, 256, 256), 12, "unet_256, no norm, 3->2, ngf 2")
    forward_case("v_fwd_D_nlayers2_none", {"netD": "n_layers", "n_layers_D": 2, "input_nc": 1, "ndf": 4, "norm": "none"},
                 "D", images(13, 3, 1, 40, 40), 13, "n_layers D with 2 layers, no norm, 1 channel, batch 3")
    forward_case("v_fwd_D_pixel_batch", {"netD": "pixel", "input_nc": 4, "ndf": 4, "norm": "batch"},
                 "D", images(14, 2, 4, 20, 24), 14, "pixel D, batch norm, 4 channels")
    backward_case("v_bwd_unet128_batch", {"netG": "unet_128", "input_nc": 3, "output_nc": 3, "ngf": 4, "norm": "batch",
                                          "use_dropout": False},
                  images(15, 2, 3, 128, 128), 15, "unet_128, batch norm, train mode, batch 2")
    penalty_case("v_gp_real_nlayers4", {"netD": "n_layers", "n_layers_D": 4, "input_nc": 3, "ndf": 4, "norm": "instance"},
                 "real", images(16, 2, 3, 64, 64), images(17, 2, 3, 64, 64), 16, "penalty at the real images, 4-layer D")
    penalty_case("v_gp_mixed_batch3", {"netD": "basic", "input_nc": 2, "ndf": 4, "norm": "none"},
                 "mixed", images(18, 3, 2, 32, 32), images(19, 3, 2, 32, 32), 18, "mixed penalty, batch 3, no norm")
    cycle_gan_case("v_step_cycle_gan_btoa_vanilla", {"netG": "resnet_9blocks", "netD": "n_layers", "n_layers_D": 2,
                                                     "input_nc": 3, "output_nc": 1, "ngf": 4, "ndf": 4, "norm": "instance",
                                                     "gan_mode": "vanilla", "lr": 0.0005, "beta1": 0.6, "lambda_A": 5.0,
                                                     "lambda_B": 8.0, "lambda_identity": 0.0, "direction": "BtoA",
                                                     "init_type": "normal", "init_gain": 0.02},
                   21, 2, 32, "cycle_gan, resnet_9blocks, 2-layer D, vanilla GAN, no identity, 3->1, BtoA, batch 2")
    pix2pix_case("v_step_pix2pix_resnet_pixel", {"netG": "resnet_6blocks", "netD": "pixel", "n_layers_D": 3,
                                                 "input_nc": 1, "output_nc": 3, "ngf": 4, "ndf": 4, "norm": "batch",
                                                 "gan_mode": "lsgan", "lr": 0.0001, "beta1": 0.5, "lambda_L1": 50.0,
                                                 "direction": "AtoB", "init_type": "normal", "init_gain": 0.02},
                 30, 2, 32, "pix2pix, resnet_6blocks, pixel D, batch norm, lsgan, 1->3, batch 2")
    # The reference's wgangp: the critic's loss without the penalty it
    # defines but never applies.
    pix2pix_case("v_step_pix2pix_wgangp", {"netG": "unet_128", "netD": "n_layers", "n_layers_D": 2, "input_nc": 3,
                                           "output_nc": 3, "ngf": 4, "ndf": 4, "norm": "batch", "gan_mode": "wgangp",
                                           "lr": 0.0002, "beta1": 0.5, "lambda_L1": 10.0, "direction": "BtoA",
                                           "init_type": "normal", "init_gain": 0.02},
                 36, 1, 128, "pix2pix, unet_128, wgangp (no penalty, as the reference), batch norm, BtoA")
    cycle_gan_case("v_step_cycle_gan_wgangp_none", {"netG": "resnet_6blocks", "netD": "basic", "n_layers_D": 3,
                                                    "input_nc": 3, "output_nc": 3, "ngf": 4, "ndf": 4, "norm": "none",
                                                    "gan_mode": "wgangp", "lr": 0.0002, "beta1": 0.5, "lambda_A": 10.0,
                                                    "lambda_B": 10.0, "lambda_identity": 0.5, "direction": "AtoB",
                                                    "init_type": "normal", "init_gain": 0.02},
                   37, 1, 32, "cycle_gan, wgangp (no penalty, as the reference), no norm, identity 0.5")
    # ColorizationModel is pix2pix from L to ab; its dataset mode sets
    # input_nc 1 and output_nc 2, which the command line leaves out.
    pix2pix_case("v_step_colorization", {"netG": "resnet_6blocks", "netD": "basic", "n_layers_D": 3, "input_nc": 1,
                                         "output_nc": 2, "ngf": 4, "ndf": 4, "norm": "batch", "gan_mode": "vanilla",
                                         "lr": 0.0002, "beta1": 0.5, "lambda_L1": 100.0, "direction": "AtoB",
                                         "init_type": "normal", "init_gain": 0.02},
                 35, 1, 32, "colorization (pix2pix from L to ab), resnet_6blocks, batch norm", model="colorization",
                 implied=("input_nc", "output_nc"))
    cut_forward_case("v_fwd_cut_G_resnet6_noaa", {"netG": "resnet_6blocks", "ngf": 4, "no_antialias": True},
                     "G", [0, 3, 5, 9, 11], images(40, 2, 3, 32, 36), 40, "CUT G resnet_6blocks, no anti-aliasing, batch 2")
    cut_forward_case("v_fwd_cut_G_noaa_up", {"ngf": 4, "no_antialias_up": True, "normG": "batch"},
                     "G", [1, 4, 8, 14], images(41, 1, 3, 32, 32), 41, "CUT G resnet_9blocks, no anti-aliased upsampling, batch norm")
    cut_forward_case("v_fwd_cut_D_nlayers2_noaa", {"ndf": 4, "netD": "n_layers", "n_layers_D": 2, "no_antialias": True},
                     "D", [], images(42, 2, 3, 40, 40), 42, "CUT D n_layers 2, no anti-aliasing")
    cut_step_case("v_step_cut_batch2_zero_rows", {"CUT_mode": "CUT", "ngf": 2, "ndf": 4, "netG": "resnet_6blocks",
                                                  "nce_layers": "0,3,7", "netF_nc": 8, "num_patches": 16,
                                                  "lr": 0.0003},
                  51, 2, 32, False, "CUT mode, batch 2, ngf 2, taps after ReLUs: netF gets all-zero rows (NaN in CUT's gradients)")
    cut_step_case("v_step_fastcut_noflip_batch2", {"CUT_mode": "FastCUT", "ngf": 4, "ndf": 4, "netG": "resnet_6blocks",
                                                   "netF_nc": 16, "num_patches": 8, "no_antialias": True,
                                                   "nce_layers": "0,4,7,9"},
                  60, 2, 32, False, "FastCUT, flip not taken, batch 2, no anti-aliasing")
    preprocess_case("v_preprocess_small")
    lr_case("v_lr_schedules")
    hd_cases()
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(INDEX, f, indent=1)


main()
