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
sys.path.insert(0, os.path.join(HERE, "..", "..", "networks", "testdata"))
import cutnets  # noqa: E402
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


def grads(net):
    out, none = {}, []
    for k, p in net.named_parameters():
        if p.grad is None:
            out[k] = torch.zeros_like(p)
            none.append(k)
        else:
            out[k] = p.grad.detach().clone()
    return out, none


def zero_true(net):
    """Conv biases that feed an InstanceNorm2d directly: their exact gradient is 0."""
    out = []
    for prefix, m in net.named_modules():
        if not isinstance(m, nn.Sequential):
            continue
        kids = list(m.named_children())
        for (n, a), (_, b) in zip(kids, kids[1:]):
            if isinstance(a, (nn.Conv2d, nn.ConvTranspose2d)) and a.bias is not None and isinstance(b, nn.InstanceNorm2d):
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
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(INDEX, f, indent=1)


main()
