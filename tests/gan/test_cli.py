"""CLI contract: exit 0 on success, 2 with one line on bad input, nothing written.

`sample` refusals:

Inputs that used to hang, exhaust memory or escape the allowed folders: each now ends, bounded, in one line.

Hangs are tested in a child process with a deadline, so a regression fails the test instead of stalling CI.
"""


import pytest
from helpers import REPO

from gan.cli import main


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error:")
    return err[0]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "--run-dir", "{tmp}/r", "--preset", "huge"], "unknown preset"),
        (["train", "--run-dir", "{tmp}/r", "--data", "{tmp}/missing"], "missing"),
        (["train", "--run-dir", "{tmp}/r", "--data", "mnist"], "mnist"),
        (["train", "--run-dir", "{tmp}/r", "--epochs", "0"], "--epochs"),
        (["train", "--run-dir", "{tmp}/r", "--g-lr", "3"], "--g-lr"),
        (["train", "--run-dir", "{tmp}/r", "--epochs", "2", "--steps", "3"], "not allowed with"),
        (["train", "--run-dir", "{tmp}/r", "--resume"], "nothing to resume"),
        (["sample", "--run-dir", "{tmp}/r", "--out", "{tmp}/g.png"], "train it first"),
        (["sample", "--model", "{tmp}/m.keras", "--out", "{tmp}/g.png"], "no model file"),
        (["info", "{tmp}"], "not a run directory"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, argv, words):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    assert words in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_every_train_option_says_what_it_does():
    from gan.cli import build_parser

    parser = build_parser()
    train = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
    undocumented = [a.option_strings for a in train._actions if a.option_strings and not a.help]
    assert not undocumented


def test_every_config_switch_of_the_cpu_preset_has_a_flag():
    """The switches the issue asks for can be set from the command line, not only from a --config file."""
    from gan.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["train", "--run-dir", "r", "--mode-seeking", "0.5", "--bn-reestimate", "0",
                              "--lr-decay", "none", "--ema", "0", "--augment", "translation", "--holdout", "10",
                              "--eval-every", "100", "--eval-metric", "ifd_cifar5k", "--keep-best", "--jit"])
    assert (args.mode_seeking, args.bn_reestimate, args.lr_decay, args.ema, args.augment, args.holdout) == (
        0.5, 0, "none", 0.0, "translation", 10)
    assert args.eval_metric == "ifd_cifar5k" and args.keep_best is True and args.jit is True


# --- every number on the command line is checked before work starts (issue 25, class 6) --------------------
REQUIRED = {  # the least each command needs besides the number under test; nothing here can succeed
    "train": ["--run-dir", "{tmp}/r", "--data", "{tmp}/missing.npz"],
    "sample": ["--run-dir", "{tmp}/r", "--out", "{tmp}/g.png"],
    "evaluate": ["--run-dir", "{tmp}/r"],
    "train-classifier": ["--data", "{tmp}/missing.npz", "--out", "{tmp}/c"],
    "bench": [],
}


def numeric_flags() -> list[tuple[str, str]]:
    """(command, flag) for every option of every command that parses a number."""
    from gan.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    found = []
    for command, parser in commands.items():
        for action in parser._actions:
            if action.option_strings and action.type is not None and action.type is not str:
                found.append((command, action.option_strings[-1]))
    return found


def test_the_numeric_flags_are_found():
    flags = numeric_flags()
    assert {c for c, _ in flags} == set(REQUIRED)
    for case in [("sample", "--truncation"), ("evaluate", "--n"), ("evaluate", "--seed"), ("train", "--d-steps"),
                 ("train", "--batch-size"), ("train", "--latent-dim"), ("train-classifier", "--max-steps"),
                 ("bench", "--batch-size"), ("bench", "--steps"), ("sample", "-n")]:
        assert case in flags


@pytest.mark.parametrize("command, flag", numeric_flags())
@pytest.mark.parametrize("value", ["inf", "nan", "-1", "1e308", "1e20", "100000000000000000000", "true", "0x10"])
def test_every_numeric_flag_refuses_nonsense_in_one_line_before_any_work(tmp_path, capsys, command, flag, value):
    """`sample --truncation inf`, `evaluate --n 1e20`, `evaluate --seed -1` (after 28 s), `train --batch-size 100000`,
    `train-classifier --max-steps -1` were exit 1 "unexpected"; `bench --batch-size 100000` a segfault."""
    argv = [command, *(a.replace("{tmp}", str(tmp_path)) for a in REQUIRED[command]), f"{flag}={value}"]
    assert main(argv) == 2
    line = one_line_error(capsys)
    assert f"argument {flag}" in line and "expected" in line and value in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, words", [
    (["train", "--d-steps", "300"], "[1, 10]"),
    (["train", "--batch-size", "100000"], "[1, 4096]"),
    (["train", "--latent-dim", "100000"], "[1, 1024]"),
    (["train", "--g-lr", "inf"], "(0, 1)"),
    (["train", "--ema", "1"], "[0, 1)"),
    (["sample", "--truncation", "1e308"], "(0, 10]"),
    (["evaluate", "--n", "1"], "[2, 100000]"),
    (["evaluate", "--seed", "-1"], "[0, 2147483647]"),
])
def test_the_error_says_the_range(tmp_path, capsys, argv, words):
    command = argv[0]
    argv = [command, *(a.replace("{tmp}", str(tmp_path)) for a in REQUIRED[command]), *argv[1:]]
    assert main(argv) == 2
    assert words in one_line_error(capsys)


def test_bench_checks_its_presets_before_the_first_measurement(capsys):
    assert main(["bench", "--preset", "tiny", "--preset", "huge"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "unknown preset" in err


@pytest.mark.parametrize("flags,message", [
    (["-n", "1000000000"], "[1, 100000]"), (["--truncation", "nan"], "truncation"),
    (["--truncation", "-1"], "truncation"),
    (["--truncation", "inf"], "truncation"), (["--truncation", "1e308"], "truncation"),
])
def test_sample_refuses_unbounded_requests_in_one_line(tmp_path, capsys, flags, message):
    from gan.cli import main

    model = next((REPO / "checkpoints").glob("*/generator.keras"))
    assert main(["sample", "--model", str(model), "--out", str(tmp_path / "x.png"), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and not (tmp_path / "x.png").exists()


def test_sample_out_naming_a_folder_is_one_line(tmp_path, capsys):
    from gan.cli import main

    (tmp_path / "grid.png").mkdir()
    model = next((REPO / "checkpoints").glob("*/generator.keras"))
    assert main(["sample", "--model", str(model), "-n", "4", "--out", str(tmp_path / "grid.png")]) == 2
    assert "is a folder" in capsys.readouterr().err


# --- writes that fail: one line, exit 1, and nothing half-written or lost -------------------------------
def test_sample_into_a_folder_that_cannot_exist_is_one_line_and_writes_nothing(tiny_run, tmp_path, capsys):
    from gan.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for out in (blocker / "grid.png", blocker / "more" / "images.npz"):
        assert main(["sample", "--run-dir", str(tiny_run), "-n", "4", "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"] and blocker.read_text() == "not a folder"
