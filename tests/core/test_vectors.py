import numpy as np

from xmodal.core.vectors import unit_rows


def test_rows_come_back_unit_length_in_float32_and_zero_rows_stay_zero():
    rows = np.array([[3.0, 4.0], [0.0, 0.0], [-2.0, 0.0]], dtype=np.float64)
    unit = unit_rows(rows)
    assert unit.dtype == np.float32
    np.testing.assert_allclose(unit, [[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0]], atol=1e-7)
    assert not np.isnan(unit).any()  # a zero row is no one's neighbour, not NaN
