"""Betti numbers of a Mapper graph's nerve: the flag complex of its 1-skeleton.

A Mapper graph records only which clusters share points (its 1-skeleton). Counting the
independent cycles of that graph (``links - nodes + components``) counts every triangle of
three mutually overlapping clusters as a loop, which is why dense graphs reported thousands
of "cycles". The flag (clique) complex fills every clique of the graph, so its first Betti
number counts only the holes a picture of the graph shows.

The homology is computed by ripser: every link is an edge at filtration value 1, so the
flag complex at value 1 is the whole clique complex, and its Betti numbers are the bars
that never die.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..validation import InputError

__all__ = ["nerve_betti"]


def nerve_betti(graph, maxdim=1):
    """Betti numbers of the flag complex of a Mapper graph (coefficients Z/2).

    Parameters
    ----------
    graph : dict
        Node-link data as :func:`cnntopo.topology.mapper.mapper_graph` returns it: ``nodes`` with
        ``id``, ``links`` with ``source`` and ``target``.
    maxdim : int, default 1
        Highest dimension; the work grows with the number of (maxdim + 1)-cliques.

    Returns
    -------
    betti : list of int, length maxdim + 1
        ``betti[0]`` the connected components, ``betti[1]`` the independent loops that no
        clique fills, and so on.

    Examples
    --------
    A square has one loop; with a diagonal its two triangles fill it:

    >>> square = {"nodes": [{"id": i} for i in range(4)],
    ...           "links": [{"source": a, "target": b} for a, b in [(0, 1), (1, 2), (2, 3), (0, 3)]]}
    >>> nerve_betti(square)
    [1, 1]
    >>> square["links"].append({"source": 0, "target": 2})
    >>> nerve_betti(square)
    [1, 0]
    """
    from ripser import ripser
    from scipy.sparse import coo_matrix

    if isinstance(maxdim, bool) or not isinstance(maxdim, numbers.Integral) or maxdim < 0:
        raise InputError(f"The 'maxdim' parameter of nerve_betti must be an int >= 0; got {maxdim!r}.")
    try:
        ids = [node["id"] for node in graph["nodes"]]
        pairs = [(link["source"], link["target"]) for link in graph["links"]]
    except (KeyError, TypeError) as exc:
        raise InputError(f"The 'graph' parameter of nerve_betti must be node-link data with "
                         f"'nodes' (each with 'id') and 'links' (each with 'source' and "
                         f"'target'); {type(exc).__name__}: {exc}") from None
    n = len(ids)
    if n == 0:
        return [0] * (int(maxdim) + 1)
    index = {node_id: i for i, node_id in enumerate(ids)}
    if len(index) != n:
        raise InputError("The 'graph' parameter of nerve_betti has repeated node ids.")
    try:
        edges = np.array([(index[a], index[b]) for a, b in pairs if a != b], dtype=np.int64)
    except KeyError as exc:
        raise InputError(f"The 'graph' parameter of nerve_betti has a link to node {exc.args[0]!r}, "
                         f"which is not among its nodes.") from None
    edges = edges.reshape(-1, 2)
    # Vertices enter at 0 (the implicit diagonal), edges at 1.
    dist = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    dist = dist.maximum(dist.T).tocoo()
    dgms = ripser(dist, distance_matrix=True, maxdim=int(maxdim))["dgms"]
    return [int(np.isinf(np.asarray(d)[:, 1]).sum()) if len(d) else 0 for d in dgms]
