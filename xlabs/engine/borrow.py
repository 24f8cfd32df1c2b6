"""Views of numba arrays without reference counting, for hot loops that call a kernel many times.

A numba call passes each array argument with its reference count raised
before the call and lowered after it: two atomic operations per array.  The
waterfall kernel takes about 35 arrays, so every evaluation paid about
0.2 µs for this alone (measured, see ``benchmarks/bench_waterfall.py``).
:func:`borrow` returns the same array (same data, shape and strides) with no
memory-info pointer; numba's reference counting skips such arrays.

Rule: borrow only the *arguments* of the function that borrows them.  The
caller holds those arrays for the whole call, so the views cannot outlive
their data.  A local array may be released by numba right after its last
use, which could be the ``borrow`` itself: allocate scratch arrays in a
caller and pass them in.  Never return a borrowed view or store it.
"""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _borrow_array(context, builder, ty, value):
    src = context.make_array(ty)(context, builder, value)
    dst = context.make_array(ty)(context, builder)
    for f in ("nitems", "itemsize", "data", "shape", "strides"):
        setattr(dst, f, getattr(src, f))
    dst.meminfo = cgutils.get_null_value(dst.meminfo.type)
    dst.parent = cgutils.get_null_value(dst.parent.type)
    return dst._getvalue()


@intrinsic
def borrow(typingctx, x):
    """``x`` (an array, or a tuple whose arrays are borrowed and other items passed through) as
    views without reference counting.  See the module docstring for when this is safe."""
    if isinstance(x, types.Array):
        def codegen(context, builder, sig, args):
            return _borrow_array(context, builder, sig.args[0], args[0])
        return x(x), codegen
    if isinstance(x, types.BaseTuple):
        def codegen(context, builder, sig, args):
            vals = []
            for i, ty in enumerate(sig.args[0]):
                v = builder.extract_value(args[0], i)
                if isinstance(ty, types.Array):
                    v = _borrow_array(context, builder, ty, v)
                elif context.enable_nrt:
                    context.nrt.incref(builder, ty, v)      # the result is a new reference
                vals.append(v)
            return context.make_tuple(builder, sig.return_type, vals)
        return x(x), codegen
    return None
