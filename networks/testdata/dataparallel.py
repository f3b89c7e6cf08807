"""Saves a reference network the way code that trains it wrapped in
torch.nn.DataParallel often does, torch.save(DataParallel(net).state_dict()),
so that every key starts with "module.", and runs an input through it.

usage: dataparallel.py SPEC_JSON WEIGHTS.pth INPUT.npy OUTPUT.npy
(SPEC_JSON as refnets.py takes it)
"""
import json
import sys

import numpy as np
import torch

from refnets import build


def main():
    spec = json.loads(sys.argv[1])
    torch.manual_seed(0)
    net = build(spec)
    # Batch-norm statistics away from 0 and 1, so that eval mode matters.
    for name, buf in net.named_buffers():
        if buf.dtype == torch.float32:
            buf.uniform_(0.5, 1.5)
    net.eval()
    # Without CUDA, DataParallel runs the net as it is, but its state dict
    # still names the net as its submodule "module".
    torch.save(torch.nn.DataParallel(net).state_dict(), sys.argv[2])
    x = torch.from_numpy(np.load(sys.argv[3]))
    with torch.no_grad():
        y = net(x)
    np.save(sys.argv[4], y.numpy())


if __name__ == "__main__":
    main()
