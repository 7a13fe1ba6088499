import sys, torch
from hifi_nb.train import build_model, make_batches
from hifi_nb.data import load_task
from hifi_nb import tuning
method, lr = sys.argv[1], float(sys.argv[2])
torch.manual_seed(0)
dd = load_task("cola", None, protocol="sam", seed=0, max_train_samples=64)
net, tok = build_model("minilm-l6", "cola", seed=0)
b = [dict(x) for x in make_batches(dd["train"], tok, "cola", batch_size=32, max_length=64, n_examples=32, seed=0)][0]
kw = {}
net = tuning.prepare(net, method, **kw) if method != "full" else net
params = [p for p in net.parameters() if p.requires_grad]
print(method, "trainable tensors", len(params), sum(p.numel() for p in params))
opt = torch.optim.AdamW(params, lr=lr)
net.train()
for step in range(60):
    out = net(**b); out.loss.backward(); opt.step(); opt.zero_grad()
    if step % 10 == 0 or step == 59:
        print(step, round(out.loss.item(), 4), "pred share", (out.logits.argmax(-1) == out.logits.argmax(-1).mode().values).float().mean().item())
