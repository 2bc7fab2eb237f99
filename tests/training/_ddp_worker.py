"""Training run used by test_ddp.py, in one process or as one rank of a 2-process gloo group.

Not a test module: the test puts this folder on ``sys.path`` so that spawned processes can
import it by name.
"""

from __future__ import annotations

import os

import torch


def train_both(out_dir: str, graph_file: str) -> None:
    """Train a regression and a weighted classification GNN; rank 0 saves weights and metrics."""
    from deeprank_like.data import GraphDataset, split_dataset
    from deeprank_like.training import Trainer, build_model_for, current_context

    ctx = current_context()
    for target, loss in (("irmsd", "mse"), ("binary", "cross_entropy")):
        ds = GraphDataset(graph_file, target=target, standardize=True)
        train, val = split_dataset(ds, (0.67, 0.33), seed=0)  # 6 + 3 items
        torch.manual_seed(0)
        model = build_model_for("gine", train, hidden_size=8, num_layers=2, head_hidden_size=16)
        trainer = Trainer(
            model,
            train,
            val,
            lr=1e-2,
            loss=loss,
            class_weights=target == "binary",
            seed=1,
            device="cpu",
            output_dir=os.path.join(out_dir, target),
        )
        # global batches of 5: the last one (1 item) leaves rank 1 with a padding item;
        # validation batches of 2: 2 items, then 1 item (+ padding)
        history = trainer.train(3, batch_size=5, eval_batch_size=2, checkpoint=None)
        if ctx.is_main:
            torch.save(trainer.model.state_dict(), os.path.join(out_dir, f"{target}.pt"))
            history.to_csv(os.path.join(out_dir, f"{target}.csv"), index=False)
        trainer.close()


def rank_main(rank: int, world_size: int, port: int, out_dir: str, graph_file: str) -> None:
    """Entry point of one spawned rank."""
    import torch.distributed as dist

    from deeprank_like.training import init_distributed

    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    ctx = init_distributed("gloo", timeout_s=120)
    assert ctx.world_size == world_size and ctx.rank == rank
    try:
        train_both(out_dir, graph_file)
    finally:
        dist.destroy_process_group()
