"""The registry (bbadj/core/registry.py): names read from the source are those registered at run
time, unknown names are refused naming the setting and the choices, settings are checked without
importing torch, and a row's unused variants are told apart for the code fingerprint."""

import subprocess
import sys
import textwrap

import pytest

from bbadj.core import registry
from bbadj.core.registry import DECODERS, FUSIONS, LOSSES, REGISTRIES, Registry, unused_definitions
from bbadj.util.errors import ConfigError, UnknownName


def _import_all():
    import bbadj.model.decoding  # noqa: F401 - the modules that register (decoders, fusions through it)
    import bbadj.model.fusion  # noqa: F401
    import bbadj.train.objectives  # noqa: F401 - objectives, and losses through it


@pytest.mark.parametrize("reg", REGISTRIES, ids=lambda r: r.kind)
def test_the_source_reading_is_what_registers(reg):
    _import_all()
    assert reg.names() == reg.runtime_names() and reg.names()
    assert all(reg.meta(n) == reg.runtime_meta(n) for n in reg.names())
    assert all(reg.get(n).__name__ == reg.defined_by(n) for n in reg.names())


def test_each_decoder_and_loss_declares_its_output():
    outputs = {"logits", "laplace"}
    assert {DECODERS.meta(n)["output"] for n in DECODERS.names()} == outputs
    assert {LOSSES.meta(n)["output"] for n in LOSSES.names()} == outputs


def test_an_unknown_name_names_the_setting_and_the_choices():
    _import_all()
    with pytest.raises(UnknownName, match=r"unknown fusion 'l5' \(model.fusion\); choose one of l4, l34_mean, "):
        FUSIONS.get("l5")
    with pytest.raises(UnknownName, match=r"unknown loss 'l2' \(train.loss\); choose one of two_point, "):
        LOSSES.meta("l2")
    from bbadj.model.fusion import build_fusion

    with pytest.raises(ConfigError, match="model.fusion"):
        build_fusion("nope", {}, {}, 8)


def test_a_name_is_registered_once():
    reg = Registry("thing", "THINGS", "nowhere.py", "model.thing")
    reg.register("a")(object)
    with pytest.raises(ValueError, match="thing 'a' is registered twice"):
        reg.register("a")(int)


def test_settings_are_checked_without_importing_torch():
    code = (
        "import sys\nfrom bbadj.core.params import Params\nfrom bbadj.core.config import Config\n"
        "Params.load()\nConfig.from_dict({'model': {'decoder': 'regression'}, 'train': {'loss': 'laplace_nll'}})\n"
        "from bbadj.cli.main import build_parser\nbuild_parser()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'timm')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_loss_must_train_the_decoders_output():
    from bbadj.core.config import Config

    with pytest.raises(
        ConfigError,
        match=r"train.loss must be a loss for model.decoder=regression's laplace "
        r"\(one of l1, laplace_nll\), got 'two_point'",
    ):
        Config.from_dict({"model": {"decoder": "regression"}})
    with pytest.raises(ConfigError, match=r"model.decoder=conv1d's logits \(one of two_point, bce_onehot, gaussian\)"):
        Config.from_dict({"train": {"loss": "laplace_nll"}})


MODULE = textwrap.dedent("""
    from x import FUSIONS, LOSSES
    SCALE = 2

    def _shared(x):
        return x

    def _only_b(x):
        return _deeper(x)

    def _deeper(x):
        return x

    def _dead(x):
        return x

    def public(x):
        return x

    @FUSIONS.register("a")
    class A:
        def f(self, x):
            return _shared(x) * SCALE

    @FUSIONS.register("b")
    class B:
        def f(self, x):
            return _shared(_only_b(x))

    @FUSIONS.register("c")
    class C(A):
        pass

    @LOSSES.register("l")
    def loss(x):
        return x
""")


def test_unused_definitions_of_a_row():
    # a: B and the helpers only B reaches go; C is a variant of its own (it subclasses A, not the reverse)
    assert unused_definitions(MODULE, {"model": {"fusion": "a"}, "train": {"loss": "l"}}) == {
        "B",
        "C",
        "_only_b",
        "_deeper",
        "_dead",
    }
    # c subclasses a: A's code runs for it
    assert unused_definitions(MODULE, {"model": {"fusion": "c"}}) == {"B", "_only_b", "_deeper", "_dead"}
    # no model.fusion setting in the config: every fusion counts; another loss: `loss` goes
    assert unused_definitions(MODULE, {"train": {"loss": "m"}}) == {"loss", "_dead"}


def test_unused_definitions_of_the_fusion_module():
    source = FUSIONS.path.read_text()
    assert unused_definitions(source, {"model": {"fusion": "l4"}}) == {"Layer34Mean", "Concat34", "FPNSum", "_resize"}
    assert unused_definitions(source, {"model": {"fusion": "fpn"}}) == {"Layer4", "Layer34Mean", "Concat34"}
    assert registry.FUSIONS.chosen({"model": {"fusion": "fpn"}}) == "fpn"
    assert registry.FUSIONS.chosen({"train": {}}) is None
