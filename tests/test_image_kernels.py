"""The image kernels against their scipy / scikit-image references on random images."""
import numpy as np
import pytest
from scipy import ndimage as ndi

from labelgen.kernels.edges import sobel_magnitude
from labelgen.kernels.filters import gaussian_masked, gaussian_weights
from labelgen.kernels.hessian import hessian_det, hessian_det_max, integral_image
from labelgen.kernels.reference import (gaussian_masked_ref, hessian_det_max_ref, hessian_det_ref,
                               integral_image_ref, sobel_ref)

SHAPES = [(37, 51), (51, 37), (9, 5), (1, 13), (64, 3), (2, 2)]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_gaussian_weights_are_scipys():
    for sigma, truncate in [(3.0, 4.0), (1.0, 4.0), (2.5, 3.0)]:
        w = gaussian_weights(sigma, truncate)
        impulse = np.zeros(2 * len(w) + 1)
        impulse[len(w)] = 1.0
        got = ndi.gaussian_filter1d(impulse, sigma, truncate=truncate, mode="constant")
        assert np.array_equal(got[len(w) // 2 + 1:len(w) // 2 + 1 + len(w)], w)
    with pytest.raises(ValueError):
        gaussian_weights(0.0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_masked_matches_scikit_image_recipe(rng, shape, dtype):
    image = rng.random(shape).astype(dtype)
    for mask in (None, rng.random(shape) > 0.3, rng.random(shape) > 0.02, np.zeros(shape, bool)):
        for sigma in (3.0, 1.0, 0.7):
            got = gaussian_masked(image, mask, sigma)
            want = gaussian_masked_ref(image, mask, sigma)
            assert got.dtype == np.float64
            assert np.array_equal(got, want), (shape, dtype, sigma)


def test_gaussian_masked_blob_mask_and_truncate(rng):
    yy, xx = np.mgrid[:83, :97]
    mask = ((yy - 40) ** 2 + (xx - 50) ** 2 > 15 ** 2) & (xx > 3)
    image = rng.random((83, 97)).astype(np.float32)
    for truncate in (4.0, 2.0):
        assert np.array_equal(gaussian_masked(image, mask, 3.0, truncate),
                              gaussian_masked_ref(image, mask, 3.0, truncate))


def test_gaussian_masked_sparse_holes(rng):
    # few masked pixels: most windows are full, the rest are summed pixel by pixel
    image = rng.random((120, 131))
    mask = np.ones(image.shape, bool)
    mask[rng.integers(0, 120, 6), rng.integers(0, 131, 6)] = False
    mask[:, 0] = False
    for sigma in (3.0, 1.0):
        assert np.array_equal(gaussian_masked(image, mask, sigma), gaussian_masked_ref(image, mask, sigma))
        assert np.array_equal(gaussian_masked(image.astype(np.float32), mask, sigma),
                              gaussian_masked_ref(image.astype(np.float32), mask, sigma))


def test_gaussian_masked_channels(rng):
    image = rng.random((23, 31, 3))
    mask = rng.random((23, 31)) > 0.2
    for m in (None, mask):
        got = gaussian_masked(image, m, 2.0)
        assert got.shape == image.shape
        assert np.array_equal(got, gaussian_masked_ref(image, m, 2.0))
        for c in range(3):  # channels are independent
            assert np.array_equal(got[:, :, c], gaussian_masked(image[:, :, c], m, 2.0))


def test_gaussian_masked_scale_and_out_view(rng):
    """scale multiplies as ``result * scale`` would; out may be a strided view of some
    channels of a larger array, the other channels untouched."""
    image = rng.random((37, 29, 3))
    mask = rng.random((37, 29)) > 0.1
    for m in (None, mask):
        for scale in (1.0, 2.0, 0.3):
            feat = np.full((37, 29, 5), -1.0)
            ret = gaussian_masked(image, m, 2.0, scale=scale, out=feat[:, :, 1:4])
            assert np.array_equal(feat[:, :, 1:4], gaussian_masked_ref(image, m, 2.0) * scale)
            assert ret.base is feat or np.shares_memory(ret, feat)
            gaussian_masked(image[:, :, 0], m, 1.0, scale=scale, out=feat[:, :, 0])
            assert np.array_equal(feat[:, :, 0], gaussian_masked_ref(image[:, :, 0], m, 1.0) * scale)
            assert np.all(feat[:, :, 4] == -1.0)
    with pytest.raises(ValueError):
        gaussian_masked(image, None, 2.0, out=np.empty((37, 29, 3), np.float32))


def test_gaussian_masked_properties(rng):
    # a constant image stays constant inside the mask (the renormalisation undoes the border)
    mask = rng.random((41, 43)) > 0.5
    out = gaussian_masked(np.full((41, 43), 0.25), mask, 3.0)
    assert np.allclose(out, 0.25, rtol=0, atol=1e-12)
    # nothing leaks from masked pixels
    image = np.zeros((41, 43))
    image[~mask] = 1e6
    assert np.all(gaussian_masked(image, mask, 3.0) == 0.0)
    # a mask with no pixels gives zeros, not NaN
    assert np.all(gaussian_masked(rng.random((9, 9)), np.zeros((9, 9), bool), 1.0) == 0.0)
    with pytest.raises(ValueError):
        gaussian_masked(rng.random((9, 9)), np.ones((8, 9), bool), 1.0)


@pytest.mark.parametrize("shape", SHAPES + [(3, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
def test_sobel_matches_reference(rng, shape, dtype):
    image = (rng.random(shape) * 1000).astype(dtype)
    for mask in (None, rng.random(shape) > 0.2):
        got = sobel_magnitude(image, mask)
        assert np.array_equal(got, sobel_ref(image, mask))


def test_sobel_against_current_scikit_image(rng):
    from skimage import filters

    image = rng.random((61, 47))
    mask = rng.random(image.shape) > 0.1
    # with a mask scikit-image still zeroes the border; the magnitude is summed differently
    np.testing.assert_allclose(sobel_magnitude(image, mask), filters.sobel(image, mask), rtol=1e-12, atol=1e-15)
    got = sobel_magnitude(image)
    assert np.all(got[0] == 0) and np.all(got[-1] == 0) and np.all(got[:, 0] == 0) and np.all(got[:, -1] == 0)
    np.testing.assert_allclose(got[1:-1, 1:-1], filters.sobel(image)[1:-1, 1:-1], rtol=1e-12, atol=1e-15)


def test_sobel_of_a_ramp():
    # a ramp rising 0.1 per column: Gv = 0.2 (central difference over two pixels, weights
    # summing to 1), Gh = 0, magnitude 0.2 / sqrt(2)
    image = np.tile(np.arange(9, dtype=float) * 0.1, (7, 1))
    got = sobel_magnitude(image)
    np.testing.assert_allclose(got[1:-1, 1:-1], 0.2 / np.sqrt(2) * np.ones((5, 7)), rtol=1e-12)


@pytest.mark.parametrize("shape", SHAPES + [(1, 1), (3, 200)])
def test_integral_image(rng, shape):
    for image in (rng.random(shape), rng.random(shape).astype(np.float32)):
        assert np.array_equal(integral_image(image), integral_image_ref(image))


@pytest.mark.parametrize("shape", [(37, 51), (101, 33), (7, 5), (3, 200)])
def test_hessian_det_matches_scikit_image(rng, shape):
    from skimage.feature._hessian_det_appx import _hessian_matrix_det

    integral = integral_image(rng.random(shape))
    for sigma in (1.0, 1.5, 4.2, 7.4, 30.0):
        # float64 intermediates: current scikit-image, exactly
        assert np.array_equal(hessian_det(integral, sigma, False), _hessian_matrix_det(integral, sigma))
        # float32 intermediates: the scikit-image code that made Taskonomy, exactly as
        # transcribed in the reference, and close to the float64 result
        got = hessian_det(integral, sigma, True)
        assert np.array_equal(got, hessian_det_ref(integral, sigma, True))
        np.testing.assert_allclose(got, _hessian_matrix_det(integral, sigma), rtol=1e-5, atol=1e-7)


def test_hessian_det_max(rng):
    image = rng.random((45, 67)).astype(np.float32)
    sigmas = np.linspace(1, 30, 10)
    for f32 in (True, False):
        assert np.array_equal(hessian_det_max(image, sigmas, f32), hessian_det_max_ref(image, sigmas, f32))
    with pytest.raises(ValueError):
        hessian_det_max(image, [0.5])


def test_hessian_det_of_a_blob():
    # a bright Gaussian blob: the determinant peaks at its centre (within the one-pixel
    # asymmetry of the box layout) and is small far from it
    yy, xx = np.mgrid[:61, :61]
    image = np.exp(-((yy - 30) ** 2 + (xx - 30) ** 2) / (2 * 4.0 ** 2))
    det = hessian_det_max(image, np.linspace(1, 10, 10))
    peak = np.unravel_index(np.argmax(det), det.shape)
    assert abs(peak[0] - 30) <= 1 and abs(peak[1] - 30) <= 1
    assert det.max() > 0.02 and np.abs(det[:5, :5]).max() < 1e-6
