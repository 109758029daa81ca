"""Latent-space EBM prior for symbol sequences: text and SMILES (Pang, Han, Nijkamp,
Zhu & Wu 2020; Pang & Wu 2021 for text with attributes; Pang et al. 2021 for molecules).

The image latent EBM (:mod:`ebm_engine.methods.latent_ebm`) with an
autoregressive decoder in place of the image generator::

    y ~ p(y)                                   (attribute class; one class without)
    z ~ p_α(z | y) ∝ exp(f_α(z)_y) p₀(z),      p₀ = N(0, σ₀² I),
    x ~ p_β(x | z) = ∏_t p_β(x_t | x_<t, z)    (GRU decoder, :mod:`ebm_engine.models.sequence`)

Maximum likelihood needs two short-run Langevin samplers in latent space:

- prior:     ``z⁻ ~ p_α(z | y)``,     energy ``E_α(z|y) = −f_α(z)_y + |z|²/2σ₀²``;
- posterior: ``z⁺ ~ p_θ(z | x, y)``,  energy ``E_α(z|y) − log p_β(x | z)``;

and the gradients are

    ∇α L = mean ∇α f_α(z⁺)_y − mean ∇α f_α(z⁻)_y   (minus the ``prior_l2`` penalty's),
    ∇β L = mean ∇β log p_β(x | z⁺).

The attribute term ``f_α(z)_y`` is what controls generation: sampling
``z`` from ``p_α(z | y)`` and decoding gives text of attribute ``y``.
With ``prior="gaussian"`` the prior is ``N(0, I)`` itself (no ``f_α``):
the same decoder and posterior sampler, a VAE-like baseline trained the
same way (alternating back-propagation, Han et al. 2017), which cannot
condition on an attribute.

Items are token ids with an optional attribute column
(:mod:`ebm_engine.data.tokens`); samples come back in the same layout.
The prior chain uses the run's ``sampler`` section; the posterior the
``post_*`` knobs. Chain frames show the greedy decoding
of each recorded latent state, so the app shows how a sentence changes
along the Langevin chain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import torch

from ebm_engine.data.tokens import PAD_ID
from ebm_engine.errors import ConfigError
from ebm_engine.methods._latent_prior import fixed_prior_metrics, prior_update
from ebm_engine.methods._persistent_posterior import PersistentPosterior
from ebm_engine.methods.base import GENERATOR_BETAS, LearningMethod, StepResult, register_method
from ebm_engine.models.sequence import LatentPrior, SequenceDecoder
from ebm_engine.options import MAX_UNITS, knob
from ebm_engine.sampling import ChainFrame, frozen
from ebm_engine.sampling.langevin import langevin, run_langevin


@dataclasses.dataclass(frozen=True)
class LatentSeqOptions:
    """Knobs of the sequence latent-space EBM.

    Attributes
    ----------
    prior : str
        ``ebm``: the energy-based prior ``p_α(z | y)``; ``gaussian``: plain
        ``N(0, I)`` (the baseline: same decoder, no prior network, no
        attribute control).
    z_dim : int
        Latent size.
    emb_dim : int
        Token embedding size of the decoder.
    gen_width : int
        GRU state size of the decoder.
    gen_lr : float
        Decoder Adam learning rate (train.lr is the prior's).
    gen_lr_end : float
        The decoder's learning rate at ``train.iterations`` as a share of
        ``gen_lr``: a cosine decay from ``gen_lr`` (1: constant). A decayed
        rate ends a fixed budget at a lower loss (fewer invalid SMILES).
    post_steps : int
        Posterior Langevin steps per iteration (exact Langevin).
    post_step_size : float
        Step size δ of the posterior Langevin.
    post_noise : float
        Noise scale of the posterior Langevin (1 = exact; below 1 the
        posterior chain follows the likelihood more closely in few steps).
    post_persistent : bool
        Each training item keeps its posterior latent between visits and its
        chain continues from there (alternating back-propagation's persistent
        chains, Han et al. 2017); off: every chain starts from ``N(0, I)``.
    prior_l2 : float
        Penalty ``prior_l2 · mean(f_α(z⁺)² + f_α(z⁻)²)`` on the prior's
        outputs: keeps ``f_α`` from growing where the short-run prior chains
        never go (how an unbounded latent prior diverges).
    word_dropout : float
        Share of decoder input tokens replaced by ``<unk>`` while learning,
        so that the decoder uses ``z``.
    decode : str
        ``sample`` draws each token (diverse); ``greedy`` takes the most
        probable one (a deterministic picture of ``z``).
    temperature : float
        Softmax temperature of ``decode="sample"``.
    sample_attribute : int
        Attribute class to sample (−1: a uniformly drawn class per sample).
    attr_guidance : float
        Weight ``g`` of the attribute term when sampling given an attribute:
        the chains run on ``E(z|y) − (g − 1) log p_α(y | z)`` with
        ``log p_α(y|z) = f_α(z)_y − logsumexp_k f_α(z)_k``, i.e. on
        ``p_α(z | y) p_α(y | z)^(g−1)`` (1: the learned ``p_α(z | y)``;
        larger: latents more typical of ``y``). Learning always uses 1.
    """

    prior: str = knob("ebm", choices=("ebm", "gaussian"), live=False)
    z_dim: int = knob(32, ge=1, le=MAX_UNITS, live=False, sizes=("generator",))
    emb_dim: int = knob(64, ge=1, le=MAX_UNITS, live=False, sizes=("generator",))
    gen_width: int = knob(256, ge=1, le=MAX_UNITS, live=False, unit="units", sizes=("generator",))
    gen_lr: float = knob(1e-3, gt=0)
    gen_lr_end: float = knob(1.0, gt=0, le=1)
    post_steps: int = knob(20, ge=0, unit="steps")
    post_step_size: float = knob(0.1, gt=0)
    post_noise: float = knob(1.0, ge=0, le=1)
    post_persistent: bool = knob(False, live=False)
    prior_l2: float = knob(0.1, ge=0)
    word_dropout: float = knob(0.25, ge=0, lt=1)
    decode: str = knob("sample", choices=("sample", "greedy"), sampling=True)
    temperature: float = knob(1.0, ge=0.01, le=100,
                              sampling=True)  # 1e-100: logits / T overflowed float32
    sample_attribute: int = knob(-1, ge=-1, sampling=True)
    attr_guidance: float = knob(1.0, ge=0, le=1000, sampling=True)


@register_method("latent_seq")
class LatentSeqEBM(PersistentPosterior, LearningMethod):
    """Sequence decoder with an energy-based latent prior (text, SMILES; attribute control)."""

    Options = LatentSeqOptions
    kinds = ("text", "molecule")

    @classmethod
    def check(cls, opts, cfg, spec) -> None:
        if spec is not None and spec.symbols is None:
            raise ConfigError(f"method 'latent_seq' models token sequences (text, molecules), "
                              f"not {spec.kind} data; try --data grammar-text")
        if spec is not None:  # said now, not after training, when every sampling failed
            _check_attribute(spec.symbols, opts.sample_attribute)

    def build(self) -> None:
        o, sym = self.opts, self.spec.symbols
        self.symbols = sym
        self.col = sym.attribute_column
        self.length = self.spec.item_shape[0] - self.col
        self.prior = LatentPrior(o.z_dim, self.cfg.model.width, self.cfg.model.depth,
                                 sym.n_attributes, self.cfg.model.spectral_norm).to(self.device)
        self.gen = SequenceDecoder(sym.size, o.z_dim, o.emb_dim, o.gen_width).to(self.device)
        self.opt = self.adam(self.prior.parameters())
        self.gen_opt = self.adam(self.gen.parameters(), lr_knob="gen_lr", betas=GENERATOR_BETAS)
        self.init_post_latents(o.post_persistent, o.z_dim)

    # --- energies --------------------------------------------------------------------
    @property
    def ebm_prior(self) -> bool:
        return self.opts.prior == "ebm"

    def prior_energy(self, z: torch.Tensor, y: torch.Tensor, guidance: float = 1.0
                     ) -> torch.Tensor:
        """``E(z | y) = −f_α(z)_y + |z|²/2σ₀²`` (``|z|²/2`` for the Gaussian prior);
        ``guidance`` ≠ 1 adds ``−(guidance − 1) log p_α(y | z)`` (see ``attr_guidance``)."""
        if not self.ebm_prior:
            return self.with_reference(torch.zeros_like(z[:, 0]), z)
        f = self.prior(z)
        f_y = f.gather(1, y.unsqueeze(1)).squeeze(1)
        energy = -f_y
        if guidance != 1.0 and f.shape[1] > 1:
            energy = energy - (guidance - 1.0) * (f_y - torch.logsumexp(f, 1))
        return self.with_reference(energy, z)

    def with_reference(self, energy: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``energy + |z|²/2σ₀²`` (σ₀ = ``sampler.reference_sigma``; 1 for the Gaussian prior)."""
        sigma = self.cfg.sampler.reference_sigma if self.ebm_prior else 1.0
        if sigma == float("inf"):
            return energy
        return energy + z.pow(2).sum(1) / (2 * sigma ** 2)

    def split(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(tokens, attribute)`` of items in the data layout."""
        items = items.long()
        if self.col:
            return items[:, self.col:], items[:, 0]
        return items, torch.zeros(items.shape[0], dtype=torch.long, device=items.device)

    def join(self, tokens: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Items in the data layout (attribute column first when there is one)."""
        return torch.cat([y.unsqueeze(1), tokens], 1) if self.col else tokens

    def infer(self, tokens: torch.Tensor, y: torch.Tensor, n_steps: int | None = None,
              noise: bool = True, z0: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior latents: short-run Langevin on ``E(z|y) − log p_β(x|z)`` from
        ``z0`` or ``z ~ N(0, I)`` (``noise=False``: gradient descent from ``z = 0``)."""
        steps = self.opts.post_steps if n_steps is None else n_steps
        pcfg = dataclasses.replace(self.cfg.sampler, n_steps=steps,
                                   step_size=self.opts.post_step_size,
                                   noise_scale=self.opts.post_noise if noise else 0.0,
                                   grad_scale=1.0, clamp=False)
        if z0 is not None:
            z0 = z0.clone()
        elif noise:
            z0 = torch.randn(tokens.shape[0], self.opts.z_dim, device=self.device,
                             generator=self.rng)
        else:
            z0 = torch.zeros(tokens.shape[0], self.opts.z_dim, device=self.device)

        def energy(z: torch.Tensor) -> torch.Tensor:
            return self.prior_energy(z, y) - self.gen.log_likelihood(z, tokens)

        with frozen(self.prior, self.gen):
            z, _ = run_langevin(energy, z0, pcfg, generator=self.rng if noise else None)
        return z

    def prior_sample(self, y: torch.Tensor, n_steps: int | None = None, record_every: int = 0,
                     n_record: int = 8, guidance: float = 1.0) -> Iterator[ChainFrame]:
        """Latent frames of the prior chain ``z ~ p_α(z | y)`` (one exact draw for ``gaussian``;
        ``guidance``: the attribute term's weight, see ``attr_guidance``)."""
        z0 = torch.randn(y.shape[0], self.opts.z_dim, device=self.device, generator=self.rng)
        if not self.ebm_prior:
            yield ChainFrame(0, z0.cpu().numpy(), self.prior_energy(z0, y).cpu().numpy())
            return
        with frozen(self.prior):
            yield from langevin(lambda z: self.prior_energy(z, y, guidance), z0, self.cfg.sampler,
                                n_steps=n_steps, record_every=record_every, n_record=n_record,
                                generator=self.rng)

    def decode_latents(self, z: torch.Tensor, y: torch.Tensor, greedy: bool | None = None
                       ) -> torch.Tensor:
        """Items decoded from latents ``z`` (data layout, int64)."""
        greedy = self.opts.decode == "greedy" if greedy is None else greedy
        tokens = self.gen.generate(z, self.length, greedy=greedy,
                                   temperature=self.opts.temperature, generator=self.rng)
        return self.join(tokens, y)

    # --- LearningMethod --------------------------------------------------------------
    def networks(self) -> dict[str, torch.nn.Module]:
        return {"prior": self.prior, "generator": self.gen}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"prior": self.opt, "generator": self.gen_opt}

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``−log p(x, z*)`` up to a constant at the MAP latent ``z*`` (the marginal is intractable)."""
        tokens, y = self.split(x)
        z = self.infer(tokens, y, max(self.opts.post_steps, 1) * 2, noise=False)
        with torch.no_grad():
            return self.prior_energy(z, y) - self.gen.log_likelihood(z, tokens)

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        tokens, y = self.split(batch)
        frames = list(self.prior_sample(y, record_every=record_every))
        # The last frame holds all chains (the recorded ones hold a few).
        z_neg = torch.from_numpy(frames[-1].x).to(self.device)
        start = self.post_start()
        if start is not None:
            z_pos = self.infer(tokens, y, z0=start[1])
            self.post_stage(start[0], z_pos)
        else:
            z_pos = self.infer(tokens, y)
        metrics: dict[str, float] = {}
        if self.ebm_prior:
            # Prior: maximum likelihood, posterior latents are its "data".
            f_pos = self.prior(z_pos).gather(1, y.unsqueeze(1)).squeeze(1)
            f_neg = self.prior(z_neg).gather(1, y.unsqueeze(1)).squeeze(1)
            e_pos, e_neg = self.with_reference(-f_pos, z_pos), self.with_reference(-f_neg, z_neg)
            metrics.update(prior_update(self, f_pos, f_neg, e_pos, e_neg))
        else:
            with torch.no_grad():
                e_pos, e_neg = self.prior_energy(z_pos, y), self.prior_energy(z_neg, y)
            metrics.update(fixed_prior_metrics(e_pos, e_neg))
        # Decoder: maximise log p(x | z⁺).
        self.decay_rate(self.gen_opt, self.opts.gen_lr_end)
        ll = self.gen.log_likelihood(z_pos, tokens, self.opts.word_dropout, self.rng)
        gen_loss = -ll.mean()
        gen_norm = self.backward(gen_loss, self.gen_opt, [self.gen], clip=False)
        samples = self.decode_latents(z_neg, y)
        n_tokens = float((tokens != PAD_ID).sum())
        metrics.update(gen_loss=float(gen_loss.detach()),
                       token_nll=float(-ll.detach().sum()) / max(n_tokens, 1.0),
                       gen_grad_norm=gen_norm)
        valid = self._validity(samples)
        if valid is not None:
            metrics["valid"] = float(valid.mean())
        # The batch rides along so views compare data and samples (molecule properties).
        return StepResult(metrics, samples, e_neg.detach(),
                          [self._to_data_frame(f, y) for f in frames[:-1]] if record_every else [],
                          extras={"data": batch.detach()})

    def _validity(self, samples: torch.Tensor) -> np.ndarray | None:
        from ebm_engine.metrics.symbols import validity

        if not self.symbols.checker:
            return None
        return validity(self.symbols, self.symbols.decode_all(samples.cpu().numpy()))

    def _to_data_frame(self, frame: ChainFrame, y: torch.Tensor) -> ChainFrame:
        z = torch.from_numpy(frame.x).to(self.device)
        items = self.decode_latents(z, y[: z.shape[0]], greedy=True)
        return ChainFrame(frame.step, items.cpu().numpy(), frame.energy)

    def attribute_labels(self, n: int) -> torch.Tensor:
        """Attributes to sample: the ``sample_attribute`` class, or drawn uniformly."""
        k = self.symbols.n_attributes
        if self.opts.sample_attribute >= 0:
            _check_attribute(self.symbols, self.opts.sample_attribute)
            return torch.full((n,), self.opts.sample_attribute, dtype=torch.long,
                              device=self.device)
        return torch.randint(k, (n,), device=self.device, generator=self.rng)

    def sample(
        self, n: int, n_steps: int | None = None, record_every: int = 0, n_record: int = 8
    ) -> Iterator[ChainFrame]:
        """Prior Langevin in latent space, then decoding; recorded frames are greedy decodings."""
        yield from self.sample_given(self.attribute_labels(n), n_steps, record_every, n_record)

    def sample_given(self, y: torch.Tensor, n_steps: int | None = None, record_every: int = 0,
                     n_record: int = 8) -> Iterator[ChainFrame]:
        """Samples of the attribute classes ``y`` (one per sample)."""
        y = y.to(self.device)
        last = None
        with frozen(self.prior, self.gen):
            for frame in self.prior_sample(y, n_steps, record_every, n_record,
                                           self.opts.attr_guidance):
                if last is not None:
                    yield self._to_data_frame(last, y)
                last = frame
        z = torch.from_numpy(last.x).to(self.device)
        yield ChainFrame(last.step, self.decode_latents(z, y).cpu().numpy(), last.energy)

    def latent_log_likelihood(self, items: torch.Tensor, n_prior: int = 32) -> torch.Tensor:
        """A bound on ``log p(x)`` per item: ``log mean_k p_β(x | z_k)``, ``z_k`` from the prior
        sampler (short-run Langevin for the EBM; exact for the Gaussian).

        By Jensen, ``E[log mean_k p(x|z_k)] ≤ log p(x)`` for the distribution
        the ``z_k`` come from (the sampler actually used to generate), and it
        tightens as ``n_prior`` grows; the same bound serves both priors.
        """
        tokens, y = self.split(items.to(self.device))
        out = []
        chunk = max(1, 2048 // n_prior)  # latents per prior chain, bounded memory
        for start in range(0, tokens.shape[0], chunk):
            tk, yk = tokens[start:start + chunk], y[start:start + chunk]
            frames = list(self.prior_sample(yk.repeat_interleave(n_prior)))
            z = torch.from_numpy(frames[-1].x).to(self.device)
            with torch.no_grad():
                ll = self.gen.log_likelihood(z, tk.repeat_interleave(n_prior, 0))
            ll = ll.view(tk.shape[0], n_prior)
            out.append(torch.logsumexp(ll, 1) - float(np.log(n_prior)))
        return torch.cat(out)


def attribute_list(symbols) -> str:
    """``0 = statement+present, 1 = …`` (or the class numbers when the data named none)."""
    names = symbols.attribute_values or [str(k) for k in range(symbols.n_attributes)]
    return ", ".join(f"{k} = {name}" for k, name in enumerate(names))


def _check_attribute(symbols, value: int) -> None:
    """``sample_attribute`` ``value`` is -1 or one of the data's attribute classes."""
    if value < 0:
        return
    if not symbols.attribute:
        raise ConfigError(f"train.options.sample_attribute is {value}, but this data has no "
                          "attribute to sample by (-1; an attribute: grammar-text-controlled)")
    if value >= symbols.n_attributes:
        raise ConfigError(f"train.options.sample_attribute must be < {symbols.n_attributes} "
                          f"(the data's attribute classes: {attribute_list(symbols)}), got {value}")
