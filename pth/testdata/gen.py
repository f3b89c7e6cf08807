# Generates the fixtures in this folder with PyTorch 1.13 (Debian's
# python3-torch): /usr/bin/python3 gen.py
#
# Every tensor holds arange values so that the Go tests can compute what to
# expect. views.pth has tensors that are non-contiguous views, views with a
# storage offset, and several tensors sharing one storage; legacy.pth is the
# same object in the pre-1.6 format.
import collections
import torch

torch.manual_seed(0)
base = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
obj = collections.OrderedDict()
obj["base"] = base                      # shares its storage with the next four
obj["transposed"] = base.transpose(0, 2)  # shape (4, 3, 2), non-contiguous
obj["slice"] = base[1, 1:]              # offset 16, contiguous
obj["column"] = base[:, :, 2]           # offset 2, strided
obj["step"] = base.reshape(-1)[1::5]    # offset 1, stride 5
obj["expanded"] = torch.arange(3, dtype=torch.int16).expand(2, 3)  # stride 0
obj["i64_t"] = torch.arange(6, dtype=torch.int64).reshape(2, 3).t()
obj["f64"] = torch.arange(5, dtype=torch.float64) / 4
obj["f16"] = torch.arange(4, dtype=torch.float16)
obj["bf16"] = torch.arange(4, dtype=torch.bfloat16)
obj["i32"] = torch.arange(-2, 2, dtype=torch.int32)
obj["i8"] = torch.arange(-2, 2, dtype=torch.int8)
obj["u8"] = torch.arange(250, 254, dtype=torch.uint8)
obj["bool"] = torch.tensor([True, False, True])
obj["scalar"] = torch.tensor(7, dtype=torch.int64)
obj["empty"] = torch.zeros(0, 3)
obj["param"] = torch.nn.Parameter(torch.arange(2, dtype=torch.float32))
obj["same"] = obj["f64"]                # the same tensor object twice
obj["meta"] = {"epoch": 3, "lr": 0.5, "name": "x", "flags": [True, None], "pair": (1, -2), "big": 2**40}

torch.save(obj, "views.pth")
torch.save(obj, "legacy.pth", _use_new_zipfile_serialization=False)
