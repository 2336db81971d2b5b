import math

import pytest
import torch

from mde_pyg.nn import SpectralFusion


def dft_matrix(d):
    """The orthonormal DFT matrix of size ``d`` (complex128)."""
    n = torch.arange(d, dtype=torch.float64)
    return torch.exp(-2j * math.pi * n[:, None] * n[None, :] / d) / math.sqrt(d)


def on_all_frequencies(w, d):
    """A filter given on the first d // 2 + 1 frequencies, extended to all
    d by Hermitian symmetry (frequency d - k is the conjugate of k)."""
    half = d // 2 + 1
    full = torch.empty(d, dtype=torch.complex128)
    full[:half] = w
    full[half:] = w[1 : d - half + 1].flip(0).conj()
    return full


def reference(x, layer):
    """The filtered modalities and the fusion by explicit DFT matrices in
    float64 (no torch.fft): the spectra, their product, each times its
    filter on all frequencies, and the real part of the inverse DFT."""
    d = x.size(-1)
    dft = dft_matrix(d)
    w = torch.view_as_complex(layer.weight.detach()).to(torch.complex128)
    spectra = x.double().to(torch.complex128) @ dft.t()  # [M, N, d]
    spectra = torch.cat([spectra, spectra.prod(0, keepdim=True)])
    filters = torch.stack([on_all_frequencies(w_k, d) for w_k in w])
    return ((spectra * filters[:, None]) @ dft.conj()).real.float()


@pytest.mark.parametrize("channels", [8, 7])
@pytest.mark.parametrize("num_modalities", [1, 2, 3])
def test_matches_an_explicit_dft(channels, num_modalities):
    torch.manual_seed(0)
    layer = SpectralFusion(channels, num_modalities)
    x = torch.randn(num_modalities, 5, channels)
    out = layer(x)
    assert out.shape == (num_modalities + 1, 5, channels)
    # The real DFT of a real signal: the DC filter's (and for even d the
    # Nyquist filter's) imaginary part is dropped, as torch.fft.irfft does.
    torch.testing.assert_close(out, reference(x, layer), atol=1e-5, rtol=1e-4)


def test_unit_filters_give_identity_and_circular_convolution():
    layer = SpectralFusion(6, 2)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[..., 0] = 1.0  # every filter 1 + 0i
    x = torch.randn(2, 4, 6)
    out = layer(x)
    torch.testing.assert_close(out[:2], x, atol=1e-5, rtol=1e-5)
    # Convolution theorem: with the orthonormal DFT, the fusion is the
    # circular convolution of the two modalities divided by sqrt(d).
    conv = torch.zeros(4, 6)
    for n in range(6):
        for j in range(6):
            conv[:, n] += x[0, :, j] * x[1, :, (n - j) % 6]
    torch.testing.assert_close(out[2], conv / math.sqrt(6), atol=1e-5, rtol=1e-5)


def test_gradients_reset_and_repr():
    torch.manual_seed(0)
    layer = SpectralFusion(8, 2)
    assert layer.weight.shape == (3, 5, 2) and layer.filters.dtype == torch.complex64
    x = torch.randn(2, 3, 8, requires_grad=True)
    layer(x).pow(2).sum().backward()
    assert x.grad.abs().sum() > 0 and layer.weight.grad.abs().sum() > 0
    before = layer.weight.detach().clone()
    layer.reset_parameters()
    assert not torch.equal(before, layer.weight)
    # Standard normal real and imaginary parts, as the published code draws.
    big = SpectralFusion(4000, 1)
    assert abs(big.weight.mean().item()) < 0.05
    assert abs(big.weight.std().item() - 1.0) < 0.05
    assert repr(layer) == "SpectralFusion(8, num_modalities=2)"


def test_checks():
    with pytest.raises(ValueError, match="num_modalities"):
        SpectralFusion(8, 0)
    layer = SpectralFusion(8, 2)
    with pytest.raises(ValueError, match=r"Expected \[2, N, 8\]"):
        layer(torch.randn(3, 4, 8))
    with pytest.raises(ValueError, match=r"got \[2, 4, 6\]"):
        layer(torch.randn(2, 4, 6))
