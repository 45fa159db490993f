"""Every registered experiment's tiny config is valid, and the suite's pending tables are current."""

import pytest
from registry_contract import CLAIM_ID, PENDING_RENAMES, PENDING_TINY, tiny_overrides

from depthlab.experiments import get_experiment, registry

NAMES = list(registry(include_probes=True))


@pytest.mark.parametrize("name", NAMES)
def test_tiny_config_is_quick_plus_tiny_overrides_and_valid(name):
    config_cls = get_experiment(name).Config
    tiny = config_cls.tiny()
    assert tiny == config_cls.build(config_cls.tiny_overrides(), quick=True)
    assert tiny == config_cls.build(tiny=True)
    assert set(tiny_overrides(name)) <= set(config_cls.model_fields)
    config_cls.build(tiny_overrides(name), quick=True)  # the pending overrides validate too


def test_tiny_overrides_win_over_quick_and_user_overrides_win_over_both():
    config_cls = get_experiment("resnet-degradation").Config
    assert config_cls.quick().blocks == [1, 6]
    assert config_cls.tiny().blocks == [1, 2]
    assert config_cls.tiny().lr == config_cls().lr  # a field neither overrides keeps its default
    assert config_cls.build({"blocks": [1, 3]}, tiny=True).blocks == [1, 3]


def test_pending_tables_name_registered_experiments_and_break_the_id_scheme():
    assert set(PENDING_TINY) <= set(NAMES)
    assert not [i for i in PENDING_RENAMES if CLAIM_ID.fullmatch(i)]


@pytest.mark.parametrize(
    "claim_id",
    [
        "hanin-rolnick-2019a.thm1.density-linear-in-n",
        "lecture-s15.shallow-error-falls",
        "de-boor-1978.shallow-rate",
        "rolnick-tegmark-2018.tree.4-n-minus-1",
        "hanin-rolnick-2018.fm1.slope.he-normal",
    ],
)
def test_claim_id_scheme_accepts(claim_id):
    assert CLAIM_ID.fullmatch(claim_id)


@pytest.mark.parametrize(
    "claim_id",
    [
        "ua.shallow-rate",  # no year, no lecture slide
        "slide17.deep-length-exponential",
        "lecture-s7.x",  # slides have two digits
        "hanin-rolnick-2019a",  # no short name
        "hanin-rolnick-2019a.density-linear-in-N",  # capital
        "hanin-rolnick-2018.fm1.slope.he_normal",  # underscore
        "hanin-rolnick-2018.residual.eta=1",
        "poole-2016..length",
    ],
)
def test_claim_id_scheme_rejects(claim_id):
    assert not CLAIM_ID.fullmatch(claim_id)
