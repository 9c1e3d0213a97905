"""Name the shape of a cloud from its homology over two prime fields.

The models are those the field reads 3x3 patches with (Carlsson, Ishkhanov, de Silva &
Zomorodian 2008; Gabrielsson & Carlsson 2018), each a pair of Betti vectors (b0, b1, b2),
over Z/2 and over Z/3:

==============================  ===============  ===============
model                           over Z/2         over Z/3
==============================  ===============  ===============
a point                         (1, 0, 0)        (1, 0, 0)
a circle                        (1, 1, 0)        (1, 1, 0)
two circles meeting in 2 points (1, 3, 0)        (1, 3, 0)
the three-circle model          (1, 5, 0)        (1, 5, 0)
the Klein bottle                (1, 2, 1)        (1, 1, 0)
the torus                       (1, 2, 1)        (1, 2, 1)
the sphere                      (1, 0, 1)        (1, 0, 1)
==============================  ===============  ===============

The Klein bottle and the torus agree over Z/2: only the second field tells them apart (the
Klein bottle's integer H1 has 2-torsion, which Z/3 does not see, and it is non-orientable,
so its top class exists over Z/2 only).

The homology names the model; where the filters are 3x3 (or read as 3x3), the distance of
the filters to the Klein-bottle model and to the primary circle is the second witness. The
reading says where the two disagree: a Klein bottle's homology on filters far from the
model, or filters on the model without its homology.
"""

from __future__ import annotations

from ..validation import InputError

__all__ = ["MODELS", "SHAPES", "NO_STRUCTURE", "CLUSTERS", "NO_MODEL", "TOO_FEW",
           "TOO_FEW_TO_TELL", "MODEL_NEAR", "match_model", "model_of", "shape_reading",
           "shape_of"]

#: Each model's Betti vectors (b0, b1, b2) over Z/2 and Z/3.
MODELS = {
    "point": {2: (1, 0, 0), 3: (1, 0, 0)},
    "circle": {2: (1, 1, 0), 3: (1, 1, 0)},
    "two circles meeting in two points": {2: (1, 3, 0), 3: (1, 3, 0)},
    "three circles": {2: (1, 5, 0), 3: (1, 5, 0)},
    "Klein bottle": {2: (1, 2, 1), 3: (1, 1, 0)},
    "torus": {2: (1, 2, 1), 3: (1, 2, 1)},
    "sphere": {2: (1, 0, 1), 3: (1, 0, 1)},
}
NO_STRUCTURE = "no significant structure"
CLUSTERS = "clusters"
NO_MODEL = "matches none of the models"
TOO_FEW = "too few points to test H2"
TOO_FEW_TO_TELL = "too few points to tell"  # H0 or H1 undecided: the verdict's own words
#: Every value the ``shape`` column takes.
SHAPES = (NO_STRUCTURE, CLUSTERS, "circle", "primary circle", "two circles meeting in two points",
          "three circles", "Klein bottle", "torus", "sphere", NO_MODEL, TOO_FEW, TOO_FEW_TO_TELL)
#: Share of the filters within the reading radius from which they "lie on" a model (the
#: verdict's CIRCLE_DOMINANT).
MODEL_NEAR = 0.5
# Models that lie on the Klein bottle of 3x3 patches: their filters are near it.
_ON_KLEIN = ("Klein bottle", "three circles", "two circles meeting in two points")


def match_model(betti):
    """The model whose Betti vectors over both fields are `betti`, or None.

    Parameters
    ----------
    betti : dict of int to sequence of int
        ``{2: (b0, b1, b2), 3: (b0, b1, b2)}``.

    Returns
    -------
    str or None
        A key of :data:`MODELS`.
    """
    if not isinstance(betti, dict) or set(betti) != {2, 3}:
        raise InputError(f"The 'betti' parameter of match_model must be a dict {{2: (b0, b1, "
                         f"b2), 3: (b0, b1, b2)}}; got {betti!r}.")
    want = {c: tuple(int(v) for v in b) for c, b in betti.items()}
    for name, model in MODELS.items():
        if want == model:
            return name
    return None


def model_of(z2, z3):
    """(model, clusters): the model of Betti vectors over Z/2 and Z/3, reading a model's
    b1 and b2 in a cloud of several components (b0 >= 2, the same over both fields: H0 does
    not see the field) as the model in clusters, as the verdict's reading does ("primary
    circle, in 2 clusters"). ``clusters`` is True when b0 >= 2; the model is None when none
    matches."""
    b0 = int(z2[0])
    clusters = b0 >= 2 and int(z3[0]) == b0
    if clusters:
        z2, z3 = (1, *z2[1:3]), (1, *z3[1:3])
    return match_model({2: tuple(z2[:3]), 3: tuple(z3[:3])}), clusters


def _vec(b):
    return "(" + ", ".join("?" if v is None else str(int(v)) for v in b) + ")"


def _betti_text(z2, z3):
    if list(z2) == list(z3):
        return f"b = {_vec(z2)} over Z/2 and Z/3"
    return f"b = {_vec(z2)} over Z/2 and {_vec(z3)} over Z/3"


def _pct(x):
    return f"{100 * float(x):.0f}%"


def shape_reading(row):
    """The shape of a verdict row and the reading that names it, from the row's numbers.

    Parameters
    ----------
    row : dict
        A verdict row with the homology over both fields: ``significant`` (b0, b1, b2 over
        Z/2), ``significant_z3`` (over Z/3), their ``undecided`` / ``undecided_z3`` flags and
        ``shape_confidence`` (the share of resamples that read the same model); the Klein
        readings ``klein_fraction`` and ``primary_circle_fraction`` where the filters are
        3x3 or read as 3x3.

    Returns
    -------
    shape : str or None
        One of :data:`SHAPES`; None when the row has no homology over two fields.
    text : str or None
        The reading, e.g. "Klein bottle: b = (1, 2, 1) over Z/2 and (1, 1, 0) over Z/3,
        confidence 0.90; 97% of the filters within 0.5 of the Klein-bottle model".

    Rules: an undecided H0 or H1 (too few points for the landmarks) over either field gives
    :data:`TOO_FEW_TO_TELL`, an undecided H2 (too few points or landmarks) :data:`TOO_FEW`,
    with the vectors with "?" where undecided. Otherwise the vectors are
    matched to :data:`MODELS` (:func:`model_of`: with b0 >= 2 the model of (1, b1, b2),
    "in b0 clusters"); the point model reads :data:`NO_STRUCTURE` (:data:`CLUSTERS` with
    b0 >= 2), the circle reads
    "primary circle" when at least half the filters lie within 0.5 of it. The Klein-bottle
    fraction K is the evidence of the models that lie on the Klein bottle (Klein bottle,
    three circles, two circles meeting in two points): "but only K% ..." when K < 0.5.
    Any other reading with K >= 0.5 while under half the filters lie near the primary
    circle says that the filters lie on the model without its homology. Vectors that differ
    between the fields without a model say so: integer homology with 2-torsion.
    """
    z2, z3 = row.get("significant"), row.get("significant_z3")
    if not z2 or not z3 or len(z2) < 3 or len(z3) < 3:
        return None, None
    und2, und3 = row.get("undecided") or [False] * 3, row.get("undecided_z3") or [False] * 3
    shown2 = [None if (len(und2) > q and und2[q]) else z2[q] for q in range(3)]
    shown3 = [None if (len(und3) > q and und3[q]) else z3[q] for q in range(3)]
    conf = row.get("shape_confidence")
    conf_text = "" if conf is None else f", confidence {float(conf):.2f}"
    betti = _betti_text(shown2, shown3)
    if None in shown2[:2] or None in shown3[:2]:
        return TOO_FEW_TO_TELL, f"{TOO_FEW_TO_TELL}: {betti}{conf_text}"
    if None in shown2 or None in shown3:
        return TOO_FEW, f"{TOO_FEW}: {betti}{conf_text}"
    K, P = row.get("klein_fraction"), row.get("primary_circle_fraction")
    name, clusters = model_of(z2, z3)
    if name == "point":
        shape = CLUSTERS if clusters else NO_STRUCTURE
    elif name == "circle" and P is not None and P >= MODEL_NEAR:
        shape = "primary circle"
    elif name is None:
        shape = NO_MODEL
    else:
        shape = name
    where = f", in {int(z2[0])} clusters" if clusters and name not in (None, "point") else ""
    text = f"{shape}{where}: {betti}{conf_text}"
    if shape == "primary circle":
        text += f"; {_pct(P)} of the filters within 0.5 of the primary circle"
    elif name in _ON_KLEIN and K is not None:
        text += f"; {_pct(K)} of the filters within 0.5 of the Klein-bottle model"
        if K < MODEL_NEAR:
            text += (" (under half: the homology is the model's, the filters are not on it)"
                     if name == "Klein bottle" else " (under half: the loops are not the model's)")
    elif K is not None and K >= MODEL_NEAR and (P is None or P < MODEL_NEAR):
        text += (f"; yet {_pct(K)} of the filters lie within 0.5 of the Klein-bottle model: "
                 f"the model's filters without its homology")
    if name is None and list(z2[:3]) != list(z3[:3]):
        text += "; the fields disagree: the integer homology has 2-torsion"
    return shape, text


def _model_share(fields):
    """Share of the resamples whose vectors over both fields read the reported model (in one
    component or several; for the point model, as one or as clusters): the shape's
    confidence. Where no model matches, the
    share giving exactly the reported vectors (:attr:`FieldBars.confidence`)."""
    z2, z3 = fields.bars[2].counts, fields.bars[3].counts
    name, clusters = model_of(z2, z3)
    if name is None:
        return float(fields.confidence)
    def same(vectors):  # clusters matter to the point model only
        other, many = model_of(vectors[2], vectors[3])
        return other == name and (name != "point" or many == clusters)

    return float(sum(share for vectors, share in fields.joint if same(vectors)))


def shape_of(fields, klein=None):
    """The shape columns of one cloud: Betti numbers over Z/3, the joint confidence, the
    shape and its reading.

    Parameters
    ----------
    fields : cnntopo.topology.significance.FieldBars
        Of fields (2, 3) and maxdim 2
        (:func:`cnntopo.topology.significance.significant_bars_fields`).
    klein : dict, optional
        ``klein_fraction`` and ``primary_circle_fraction`` of the cloud (3x3 filters).

    Returns
    -------
    dict
        ``significant_z3``, ``significant_z3_confidence``, ``undecided_z3``,
        ``shape_confidence`` (the share of resamples that read the same model over both
        fields), ``shape``, ``shape_reading``; and ``significant``,
        ``significant_confidence``, ``undecided`` over Z/2 (b0, b1, b2).
    """
    if getattr(fields, "fields", None) is None or set(fields.fields) != {2, 3}:
        raise InputError(f"The 'fields' parameter of shape_of must be the FieldBars of fields "
                         f"(2, 3); got {getattr(fields, 'fields', fields)!r}.")
    b2, b3 = fields.bars[2], fields.bars[3]
    if len(b2.counts) < 3:
        raise InputError("The 'fields' parameter of shape_of must hold H0, H1 and H2 (maxdim "
                         f"2); it holds up to H{len(b2.counts) - 1}.")
    out = {"significant": [int(c) for c in b2.counts],
           "significant_confidence": [round(float(c), 3) for c in b2.confidence],
           "undecided": [bool(u) for u in b2.undecided],
           "significant_z3": [int(c) for c in b3.counts],
           "significant_z3_confidence": [round(float(c), 3) for c in b3.confidence],
           "undecided_z3": [bool(u) for u in b3.undecided],
           "shape_confidence": round(_model_share(fields), 3)}
    klein = klein or {}
    row = dict(out, klein_fraction=klein.get("klein_fraction"),
               primary_circle_fraction=klein.get("primary_circle_fraction"))
    out["shape"], out["shape_reading"] = shape_reading(row)
    return out
