"""Writes tests/fixtures/adam_pytorch.json: 20 steps of torch.optim.AdamW on a fixed parameter
with gradients given by a formula the Rust test recomputes,
g[i] at step t (1-based) = cos(0.37 i + 0.11 t) * (1 + 0.1 t)."""
import json, math, sys
import torch

def run(lr, beta1, beta2, eps, weight_decay, n=37, steps=20):
    p0 = [math.sin(0.5 * i) for i in range(n)]
    p = torch.nn.Parameter(torch.tensor(p0, dtype=torch.float32))
    opt = torch.optim.AdamW([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)
    for t in range(1, steps + 1):
        p.grad = torch.tensor([math.cos(0.37 * i + 0.11 * t) * (1 + 0.1 * t) for i in range(n)],
                              dtype=torch.float32)
        opt.step()
    return dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, steps=steps,
                initial=[float(v) for v in torch.tensor(p0, dtype=torch.float32)],
                final=[float(v) for v in p.detach()])

cases = [run(2e-4, 0.5, 0.999, 1e-8, 0.0), run(0.01, 0.9, 0.999, 1e-8, 0.0),
         run(0.01, 0.5, 0.999, 1e-8, 0.05)]
out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/adam_pytorch.json"
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)
print("wrote", out)
