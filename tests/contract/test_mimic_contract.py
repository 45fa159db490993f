"""Contract: mimic training never changes the teacher (params, hooks, mode, grads)."""

import torch

from depthlab import nets
from depthlab.data.base import Dataset
from depthlab.init import initialize
from depthlab.mimic import Teacher, mimic
from depthlab.testing import unchanged
from depthlab.train import TrainConfig


def test_mimic_leaves_every_teacher_unchanged_and_is_deterministic():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(80, 5, generator=g)
    y = x[:, :3].argmax(1)
    data = Dataset(x[:60], y[:60], x[60:], y[60:], "classification", {"num_classes": 3})
    teachers = [nets.mlp([5, 8, 3]) for _ in range(2)]
    teachers[0].train()
    teachers[1].eval()
    results = []
    for _ in range(2):
        students = [
            initialize(nets.mlp([5, 4, 3]), "he_normal", torch.Generator().manual_seed(s))
            for s in range(2)
        ]
        with unchanged(teachers[0]), unchanged(teachers[1]):
            results.append(
                mimic(students, Teacher(teachers), data, TrainConfig(epochs=2, batch_size=16))
            )
    assert teachers[0].training and not teachers[1].training
    assert results[0].test_acc == results[1].test_acc
