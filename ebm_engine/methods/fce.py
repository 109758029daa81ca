"""Flow contrastive estimation (Gao et al., CVPR 2020).

The EBM ``p_θ(x) = exp(−E_θ(x) + c)`` (``c`` a learned log-normaliser) and a
normalising flow ``q_α(x)`` (exact log-density, :mod:`ebm_engine.models.flow`)
play a noise-contrastive game. With the classifier

    D(x) = p_θ(x) / (p_θ(x) + q_α(x)) = σ(−E_θ(x) + c − log q_α(x)),

the value is ``V(θ, α) = E_data[log D(x)] + E_{q_α}[log(1 − D(x))]``; the
EBM maximises ``V`` (NCE against the flow), the flow minimises it, which
moves ``q_α`` towards the data (a Jensen–Shannon game) so the contrast stays
hard. Flow samples are reparameterised, so ``α`` gets the gradient through
both the samples and ``log q_α``. Knob ``flow_mle`` adds ``flow_mle · E_data
[−log q_α(x)]`` to the flow's loss (a maximum-likelihood stabiliser; 0 is
the paper's pure game). The flow is also the sampler: ``sample`` draws from
the flow and, with ``refine_steps > 0``, refines by Langevin on ``E_θ``
(the method ignores ``sampler.init`` and uses ``sampler.*`` only for refining).

With ``resample = K > 1``, ``sample`` draws ``K`` flow candidates per sample and
keeps one with probability ∝ ``exp(−E_θ(x) − log q_α(x))``, the EBM's density
ratio to the flow: sampling-importance-resampling, which draws from ``p_θ``
itself as ``K`` grows (the flow proposes, the EBM chooses). Training snapshots
resample too, from at most :data:`PREVIEW_CANDIDATES` candidates (the live
view's cost stays small) and on a generator of their own (showing them never
changes the run), with the flow's own samples beside them (``flow samples``).

Metrics: ``loss`` (the EBM's NCE loss, ``−V``), ``nce_accuracy`` (how often
``D`` tells data from flow samples on the step's batch; near 0.5 when the flow
matches the data; not ``accuracy``, which names a held-out score in other methods
and the app plots as one), ``flow_nll`` (``−log q_α`` per coordinate on the data
batch), ``log_z`` (``−c``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ebm_engine import distributed
from ebm_engine.methods._average import Averages
from ebm_engine.methods.base import LearningMethod, StepResult, grad_norm, register_method, to_numpy
from ebm_engine.models import build_model
from ebm_engine.models.conv_flow import ConvRealNVP
from ebm_engine.models.flow import RealNVP
from ebm_engine.models.subspace_flow import SubspaceRealNVP, check_sizes
from ebm_engine.options import MAX_LAYERS, MAX_UNITS, knob
from ebm_engine.sampling import ChainFrame, energy_of, frozen
from ebm_engine.sampling.langevin import langevin, run_langevin

# Learning-rate multiplier of the log-normaliser c.
LOG_NORM_LR_SCALE = 50.0
# Most training items the 'pca' flow's basis is fitted to (evenly spaced).
FIT_ITEMS = 4096
# Flow candidates drawn at once when resampling (memory, not results).
RESAMPLE_CANDIDATES = 1024
#: Most candidates per sample a training snapshot resamples from: on the conv-flow digits
#: preset (a snapshot every 10 steps) 16 cost 40 % more CPU per run, 4 about 10 %.
PREVIEW_CANDIDATES = 4


class LogNormaliser(nn.Module):
    """The EBM's learned log-normalising constant ``c`` (NCE learns it)."""

    def __init__(self):
        super().__init__()
        self.c = nn.Parameter(torch.zeros(()))


@dataclasses.dataclass(frozen=True)
class FlowContrastiveOptions:
    """Knobs of flow contrastive estimation.

    Attributes
    ----------
    flow_net : str
        ``"mlp"``: RealNVP with MLP couplings on the flattened item (any data);
        ``"conv"``: two-scale RealNVP with conv couplings (images, H and W divisible by 4);
        ``"pca"``: RealNVP with MLP couplings on the data's ``flow_components`` leading
        principal components, the data's Gaussian fit in the others
        (:mod:`ebm_engine.models.subspace_flow`; items of at most 4096 values).
    flow_components : int
        Principal components the ``"pca"`` flow's couplings model.
    flow_layers : int
        Coupling layers of the RealNVP flow.
    flow_width : int
        Hidden units (conv: channels) per coupling network.
    flow_lr_scale : float
        Flow learning rate = train.lr × this.
    flow_mle : float
        Weight of the flow's likelihood term, mean −log q(x) on data (0 = the paper's pure game).
    flow_grad_clip : float
        Clip the flow's gradient norm to this (the game is touchy; 0 = off).
    data_noise : float
        Standard deviation of Gaussian jitter on the data (digits have exact −1 pixels).
        The ``"pca"`` flow's fixed spreads keep the value the run started with.
    refine_steps : int
        Langevin steps on the EBM's energy after the flow's samples (sampling and
        snapshots; 0 = off).
    average : float
        Sample from moving averages of the flow's and the EBM's weights with this
        decay (0 = from the trained networks; see :mod:`._average`).
    resample : int
        Flow candidates per sample: ``sample`` keeps one of them with probability
        ∝ the EBM's density ratio to the flow (1 = the flow's own samples).
    """

    flow_net: str = knob("mlp", choices=("mlp", "conv", "pca"), live=False)
    flow_components: int = knob(16, ge=2, le=4096, live=False, unit="components",
                                when={"flow_net": ("pca",)})
    flow_layers: int = knob(6, ge=1, le=MAX_LAYERS, live=False, sizes=("flow",))
    flow_width: int = knob(128, ge=1, le=MAX_UNITS, live=False, unit="units", sizes=("flow",))
    flow_lr_scale: float = knob(0.5, ge=0)
    flow_mle: float = knob(1.0, ge=0)
    flow_grad_clip: float = knob(1.0, ge=0)
    data_noise: float = knob(0.02, ge=0)
    refine_steps: int = knob(0, ge=0, unit="steps", sampling=True)
    average: float = knob(0.0, ge=0, lt=1, live=False)
    resample: int = knob(1, ge=1, le=256, unit="candidates", sampling=True)


@register_method("fce")
class FlowContrastive(LearningMethod):
    """EBM and a RealNVP flow in a noise-contrastive game; the flow is also the sampler."""

    Options = FlowContrastiveOptions
    samples_are = "picked by the EBM"

    @classmethod
    def check(cls, opts, cfg, spec) -> None:
        if opts.flow_net == "pca" and spec is not None:  # refused on edit, not at Train
            check_sizes(spec.item_shape, opts.flow_components)

    def build(self) -> None:
        o = self.opts
        self.net = build_model(self.cfg.model, self.spec.item_shape).to(self.device)
        self.log_norm = LogNormaliser().to(self.device)
        if o.flow_net == "pca":
            self.flow = SubspaceRealNVP(self.spec.item_shape, o.flow_components, o.flow_layers,
                                        o.flow_width).to(self.device)
        else:
            flow_cls = ConvRealNVP if o.flow_net == "conv" else RealNVP
            self.flow = flow_cls(self.spec.item_shape, o.flow_layers, o.flow_width).to(self.device)
        self.opt = self.adam(self.net.parameters())
        # c must travel several nats early on; a plain lr would take thousands of steps.
        self.opt.add_param_group({"params": list(self.log_norm.parameters()),
                                  "lr_scale": LOG_NORM_LR_SCALE, "weight_decay": 0.0})
        self.opt.param_groups[1]["lr"] = self.group_lr(self.opt.param_groups[1])
        self.flow_opt = self.adam(self.flow.parameters(), lr_scale_knob="flow_lr_scale")
        self.averages = Averages({"energy": self.net, "flow": self.flow}, o.average)
        # Snapshots' resampling draws from here, never from self.rng (the run's).
        self.preview_rng = torch.Generator(device=self.device)
        self.preview_rng.manual_seed(self.cfg.train.seed * 1_000_003)

    # --- LearningMethod ----------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {"energy": self.net, "log_norm": self.log_norm, "flow": self.flow,
                **self.averages.networks()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"energy": self.opt, "flow": self.flow_opt}

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return energy_of(self.net, self.cfg.sampler.reference_sigma)(x)

    def logit(self, x: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
        """``log p_θ(x) − log q_α(x)``: the NCE classifier's logit (data vs flow)."""
        return -self.energy(x) + self.log_norm.c - log_q

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        o = self.opts
        n = batch.shape[0]
        x_data = batch
        if o.data_noise > 0:
            x_data = batch + o.data_noise * torch.randn(
                batch.shape, device=self.device, generator=self.rng)
        if hasattr(self.flow, "initialised") and not bool(self.flow.initialised):
            self._data_init(x_data)
        x_flow, logq_flow = self.flow.sample(n, generator=self.rng)
        logq_data = self.flow.log_prob(x_data)
        e_data = self.energy(x_data)
        e_flow = self.energy(x_flow)
        logit_data = -e_data + self.log_norm.c - logq_data
        logit_flow = -e_flow + self.log_norm.c - logq_flow
        # −V: binary cross-entropy of "data" (label 1) against "flow" (label 0)
        nce = F.softplus(-logit_data).mean() + F.softplus(logit_flow).mean()
        ebm_loss = nce
        if self.cfg.train.energy_l2 > 0:
            ebm_loss = ebm_loss + self.cfg.train.energy_l2 * (e_data.pow(2).mean() + e_flow.pow(2).mean())
        flow_nll = -logq_data.mean()
        flow_loss = -nce + o.flow_mle * flow_nll

        ebm_params = [*self.net.parameters(), *self.log_norm.parameters()]
        flow_params = list(self.flow.parameters())
        # Opposite goals on one graph: take each side's gradient separately.
        ebm_grads = torch.autograd.grad(ebm_loss, ebm_params, retain_graph=True, allow_unused=True)
        flow_grads = torch.autograd.grad(flow_loss, flow_params, allow_unused=True)
        for p, g in [*zip(ebm_params, ebm_grads), *zip(flow_params, flow_grads)]:
            p.grad = None if g is None else g.detach()
        ebm_norm = grad_norm([self.net, self.log_norm])  # before clipping, as self.backward
        if self.cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(ebm_params, self.cfg.train.grad_clip)
        if o.flow_grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(flow_params, o.flow_grad_clip)

        with torch.no_grad():
            correct = (logit_data > 0).float().sum() + (logit_flow <= 0).float().sum()
        samples = x_flow.detach()
        extras: dict[str, torch.Tensor] = {}
        frames: list[ChainFrame] = []
        if o.refine_steps > 0:
            extras["flow samples"] = samples
            with frozen(self.net):
                samples, frames = run_langevin(
                    self.energy, samples, self.cfg.sampler, n_steps=o.refine_steps,
                    record_every=record_every, value_range=self.spec.value_range, generator=self.rng,
                )
        metrics = {
            "loss": float(nce.detach()),
            "energy_data": float(e_data.detach().mean()),
            "energy_sample": float(e_flow.detach().mean()),
            "grad_norm": ebm_norm,
            "nce_accuracy": float(correct) / (2 * n),
            "flow_nll": float(flow_nll.detach()) / self.flow.dim,
            "log_z": -float(self.log_norm.c.detach()),
        }
        energy = e_flow.detach() if o.refine_steps == 0 else self._energy_nograd(samples)
        return StepResult(metrics, samples, energy, frames, extras)

    @torch.no_grad()
    def _data_init(self, x_data: torch.Tensor) -> None:
        """Start the conv flow at a per-pixel Gaussian fit of the first batch
        (:meth:`ConvRealNVP.initialise`), or the 'pca' flow at the principal basis
        of the training items (at most :data:`FIT_ITEMS`, evenly spaced; the first
        batch where there is no dataset), and ``c`` where that batch's logit is 0.

        The fitted flow gives data a log-density of hundreds of nats; without
        moving ``c`` along, every data item would be called "flow" and the
        EBM would spend its first hundreds of steps catching up.
        """
        if isinstance(self.flow, SubspaceRealNVP):
            items = x_data
            if self.dataset is not None:
                items = self.dataset.evenly_spaced(FIT_ITEMS)
            self.flow.initialise(items, jitter=self.opts.data_noise)
        else:
            self.flow.initialise(x_data)
        self.log_norm.c.copy_((self.flow.log_prob(x_data) + self.energy(x_data)).mean())
        # each rank fitted its own batch (its own jitter): under torchrun the ranks must
        # go on from one start, rank 0's, as they did from its initial weights
        distributed.broadcast_parameters({"flow": self.flow, "log_norm": self.log_norm})

    def _energy_nograd(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.energy(x)

    def sample(self, n: int, n_steps: int | None = None, record_every: int = 0,
               n_record: int = 8) -> Iterator[ChainFrame]:
        """Flow samples, refined by ``refine_steps`` Langevin steps on ``E_θ``.

        ``n_steps`` is ignored: the flow is the sampler and ``refine_steps``
        (a knob of this method) sets the refinement. With ``average`` > 0 the
        flow and the EBM are their moving averages.
        """
        net = self.averages.of("energy")
        energy = energy_of(net, self.cfg.sampler.reference_sigma)
        with torch.no_grad():
            x = self.propose(n, energy, self.averages.of("flow"), self.rng, self.opts.resample)
        if self.opts.refine_steps == 0:
            if self.cfg.sampler.clamp and self.spec.value_range is not None:
                x = x.clamp(*self.spec.value_range)  # as Langevin clamps its samples
            with torch.no_grad():
                yield ChainFrame(0, to_numpy(x), to_numpy(energy(x)))
            return
        with frozen(net):
            yield from langevin(
                energy, x, self.cfg.sampler, n_steps=self.opts.refine_steps,
                record_every=record_every, n_record=n_record, value_range=self.spec.value_range,
                generator=self.rng,
            )

    def snapshot_result(self, result: StepResult, n: int) -> StepResult:
        """With ``resample`` > 1 (and no refinement) the live view shows resampled
        flow candidates (at most :data:`PREVIEW_CANDIDATES` per sample), as
        :meth:`sample` draws, beside the step's flow samples."""
        if self.opts.resample == 1 or self.opts.refine_steps > 0:
            return result
        energy = energy_of(self.net, self.cfg.sampler.reference_sigma)
        with torch.no_grad():
            x = self.propose(n, energy, self.flow, self.preview_rng,
                             min(self.opts.resample, PREVIEW_CANDIDATES))
            if self.cfg.sampler.clamp and self.spec.value_range is not None:
                x = x.clamp(*self.spec.value_range)
            shown = energy(x)
        return dataclasses.replace(result, samples=x, energy=shown,
                                   extras={**result.extras, "flow samples": result.samples[:n]})

    @torch.no_grad()
    def propose(self, n: int, energy: Callable[[torch.Tensor], torch.Tensor],
                flow: nn.Module, generator: torch.Generator, k: int) -> torch.Tensor:
        """``n`` samples of ``flow``; with ``k > 1`` each is one of ``k`` candidates
        drawn with probability ∝ ``exp(−E(x) − log q(x))`` (``energy``: the EBM's;
        its log-normaliser cancels within the ``k``)."""
        if k == 1:
            return flow.sample(n, generator=generator)[0]
        chunk = max(1, RESAMPLE_CANDIDATES // k)  # bounds the flow's activations
        kept = []
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            x, log_q = flow.sample(m * k, generator=generator)
            log_w = (-energy(x) - log_q).view(m, k).double()
            pick = torch.multinomial(torch.softmax(log_w, 1), 1, generator=generator).squeeze(1)
            kept.append(x.view(m, k, *x.shape[1:])[torch.arange(m, device=x.device), pick])
        return torch.cat(kept)
