"""Ray's resource requests (PlacementGroupFactory, ScalingConfig) as tunefleet's: the
built-in names in any case, custom resources with their spelling kept."""

from __future__ import annotations

import pytest

from tunefleet.compat.placement import PlacementGroupFactory
from tunefleet.compat.scaling import ScalingConfig
from tunefleet.run_spec import parse_resources


def test_bundles_sum_with_built_in_names_lower_cased() -> None:
    pgf = PlacementGroupFactory([{"CPU": 1, "GPU": 0.5}, {"cpu": 2, "GPU": 0.5}])
    assert pgf.required_resources == {"cpu": 3.0, "gpu": 1.0}


def test_custom_resources_keep_their_spelling() -> None:
    # a Ray cluster matches "TPU" and "accelerator_type:A100" exactly: lower-casing them
    # asked the cluster for resources it does not have
    pgf = PlacementGroupFactory([{"CPU": 1, "TPU": 2}, {"CPU": 1, "accelerator_type:A100": 0.1}])
    assert pgf.required_resources == {"cpu": 2.0, "TPU": 2.0, "accelerator_type:A100": 0.1}
    parsed = parse_resources(pgf)
    assert (parsed.cpu, parsed.gpu) == (2.0, 0.0)
    assert parsed.custom == {"TPU": 2.0, "accelerator_type:A100": 0.1}


def test_scaling_config_keeps_custom_spelling_too() -> None:
    sc = ScalingConfig(num_workers=2, resources_per_worker={"CPU": 1, "Neuron": 1})
    assert sc.required_resources == {"cpu": 2.0, "Neuron": 2.0}


def test_bad_bundles_are_refused_with_the_parameter_named() -> None:
    with pytest.raises(TypeError, match="bundles"):
        PlacementGroupFactory({"CPU": 1})  # type: ignore[arg-type]
