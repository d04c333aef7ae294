"""``neurocodec strategies``: the installed strategies and their options."""

from __future__ import annotations

import click


@click.command("strategies")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable keys).")
def command(name, as_json):
    """List the installed strategies (or one, NAME) with their ids, options and auto candidacy; then auto's own options."""
    from neurocodec.strategies import available_strategies, get_strategy

    names = [name] if name else [*available_strategies(), "auto"]
    rows = [_auto_row() if n == "auto" else _row(get_strategy(n)) for n in names]
    if as_json:
        from neurocodec.strict_json import dumps

        click.echo(dumps(rows if name is None else rows[0], indent=2))
        return
    for row in rows:
        if row["name"] == "auto":
            click.echo("auto: per scene, the best measured candidate; --preset fast|medium|slow picks the "
                       "shipped values (neurocodec/presets/auto_EFFORT.toml) that --opt overrides")
            for o in row["options"]:
                per = ", ".join(f"{e} {v}" for e, v in o["efforts"].items())
                click.echo(f"  --opt {o['key']}=<{o['type']}>  {o['allowed']}; {per}. {o['help']}")
            continue
        auto = row["auto"]
        where = "every scene class" if auto and auto["scene_classes"] is None else \
            ", ".join(auto["scene_classes"]) if auto else ""
        if auto and auto["presets"]:
            at = ", ".join(f"{e}: {' '.join(map(str, p))} (trials {' '.join(map(str, auto['trial_presets'][e]))})"
                           for e, p in auto["presets"].items())
            cand = f"auto candidate (rank {auto['rank']}; {where}; {at})"
        else:
            cand = "not tried by any auto effort (its CRF search serves --quality)" if auto else "not an auto candidate"
        crf = f"crf {row['crf_range'][0]}..{row['crf_range'][1]}" if row["crf_range"] else "no crf"
        click.echo(f"{row['name']} (id {row['id']}): {crf}; {cand}")
        for o in row["options"]:
            default = "encoder's own" if o["default"] is None else o["default"]
            click.echo(f"  --opt {o['key']}=<{o['type']}>  {o['allowed']}, default {default}. {o['help']}")


def _auto_row() -> dict:
    """auto's own options, with each effort's shipped value."""
    from neurocodec.codec_config import auto_preset
    from neurocodec.settings import AUTO_SPEEDS, AutoOptions
    from neurocodec.strategies.options import option_specs

    presets = {e: auto_preset(e).options for e in AUTO_SPEEDS}
    return {
        "name": "auto",
        "id": None,
        "crf_range": None,
        "options": [{"key": s.key, "type": s.type.__name__, "default": s.default, "allowed": s.allowed(),
                     "help": s.help, "efforts": {e: p[s.key] for e, p in presets.items()}}
                    for s in option_specs(AutoOptions)],
        "auto": None,
    }


def _row(strategy) -> dict:
    """One strategy as stable, JSON-ready keys."""
    cap = strategy.auto_capability()
    auto = None if cap is None else {
        "rank": cap.rank,
        "scene_classes": None if cap.scene_classes is None else sorted(cap.scene_classes),
        "presets": {effort: list(p) for effort, p in cap.presets.items()},
        "trial_presets": {effort: list(cap.trial_presets(effort)) for effort in cap.presets},
        "crf_range": list(cap.crf_range),
    }
    return {
        "name": strategy.name,
        "id": strategy.id,
        "crf_range": list(strategy.crf_range) if strategy.crf_range else None,
        "options": [{"key": s.key, "type": s.type.__name__, "default": s.default, "allowed": s.allowed(), "help": s.help}
                    for s in strategy.option_specs()],
        "auto": auto,
    }


__all__ = ["command"]
