"Probe (not package code): does a separate, small task-head learning rate stop the one-class collapse?"
import sys, json
import hifi_nb.train as T
from hifi_nb.models import is_task_head
head_lr = float(sys.argv[3])

class HeadLRTrainer(T.Trainer):
    def create_optimizer(self, model=None):
        opt = super().create_optimizer(model)
        m = self.model
        names = {id(p): n for n, p in m.named_parameters()}
        groups = list(opt.param_groups); opt.param_groups = []
        for g in groups:
            for is_head in (False, True):
                ps = [p for p in g["params"] if is_task_head(names[id(p)], m) == is_head]
                if ps: opt.add_param_group({**{k: v for k, v in g.items() if k != "params"}, "params": ps,
                                            **({"lr": head_lr, "initial_lr": head_lr} if is_head else {})})
        print("groups:", [(len(g["params"]), g["lr"]) for g in opt.param_groups], file=sys.stderr)
        return opt

T.Trainer = HeadLRTrainer
r = T.run(sys.argv[1], sys.argv[2], seed=0, lr=float(sys.argv[4]), epochs=3, batch_size=16, max_length=128,
          max_train_samples=int(sys.argv[5]), logging_steps=20, n_score_examples=256)
print(json.dumps(dict(status=r.status, main=r.main, metrics=r.metrics, val=[round(h["eval_main"], 3) for h in r.history if "eval_main" in h],
                      loss=[round(h["loss"], 3) for h in r.history if "loss" in h][::5], error=r.error)))
