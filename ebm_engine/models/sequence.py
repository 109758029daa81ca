"""Networks of the sequence latent-space EBM: a GRU decoder ``p_β(x | z)`` and a
latent prior network ``f_α(z)`` with one output per attribute class.

The decoder is token-level and autoregressive::

    h₀ = tanh(W z),   h_t = GRU([emb(x_{t−1}), z], h_{t−1}),
    p_β(x_t | x_<t, z) = softmax(V h_t),

with ``z`` fed at every step (not only into ``h₀``) so that the decoder
keeps using the latent code instead of collapsing into a plain language
model that ignores it; the learning method adds word dropout for the same
reason.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ebm_engine.data.tokens import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from ebm_engine.models.layers import maybe_sn


class SequenceDecoder(nn.Module):
    """GRU decoder ``p_β(x | z)`` over a vocabulary of ``vocab`` tokens.

    Parameters
    ----------
    vocab : int
        Vocabulary size (ids 0..3 are PAD, BOS, EOS, UNK).
    z_dim : int
        Latent size.
    emb_dim : int
        Token embedding size.
    hidden : int
        GRU state size.
    """

    def __init__(self, vocab: int, z_dim: int, emb_dim: int = 64, hidden: int = 256):
        super().__init__()
        self.vocab = vocab
        self.embed = nn.Embedding(vocab, emb_dim, padding_idx=PAD_ID)
        self.init_state = nn.Linear(z_dim, hidden)
        self.gru = nn.GRU(emb_dim + z_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def logits(self, z: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Teacher-forced next-token logits ``(B, T, vocab)`` for input ids ``(B, T)``."""
        emb = self.embed(inputs)
        zs = z.unsqueeze(1).expand(-1, inputs.shape[1], -1)
        h0 = torch.tanh(self.init_state(z)).unsqueeze(0)
        states, _ = self.gru(torch.cat([emb, zs], dim=2), h0.contiguous())
        return self.out(states)

    def log_likelihood(self, z: torch.Tensor, ids: torch.Tensor,
                       word_dropout: float = 0.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """``log p_β(x | z)`` per sequence ``(B,)``: the tokens up to and including EOS.

        ``word_dropout`` replaces that share of the decoder's input tokens by
        ``<unk>`` (Bowman et al. 2016), so the decoder must lean on ``z``.
        """
        inputs = torch.cat([torch.full_like(ids[:, :1], BOS_ID), ids[:, :-1]], dim=1)
        if word_dropout > 0:
            drop = torch.rand(inputs.shape, device=ids.device, generator=generator) < word_dropout
            drop[:, 0] = False
            inputs = inputs.masked_fill(drop & (inputs != PAD_ID), UNK_ID)
        logp = F.log_softmax(self.logits(z, inputs).float(), dim=2)
        token = logp.gather(2, ids.unsqueeze(2)).squeeze(2)
        return (token * (ids != PAD_ID)).sum(1)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, length: int, *, greedy: bool = False,
                 temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Token ids ``(B, length)`` decoded from ``z``: tokens, EOS, then PAD.

        ``greedy`` takes the most probable token at each step (a deterministic
        picture of ``z``); otherwise tokens are drawn at ``temperature``.
        PAD and BOS are never produced; the last position is always EOS.
        """
        b = z.shape[0]
        out = torch.full((b, length), PAD_ID, dtype=torch.long, device=z.device)
        done = torch.zeros(b, dtype=torch.bool, device=z.device)
        h = torch.tanh(self.init_state(z)).unsqueeze(0).contiguous()
        prev = torch.full((b, 1), BOS_ID, dtype=torch.long, device=z.device)
        for t in range(length):
            step, h = self.gru(torch.cat([self.embed(prev), z.unsqueeze(1)], dim=2), h)
            logits = self.out(step[:, 0]).float()
            logits[:, PAD_ID] = -torch.inf
            logits[:, BOS_ID] = -torch.inf
            if t == length - 1:
                token = torch.full((b,), EOS_ID, dtype=torch.long, device=z.device)
            elif greedy:
                token = logits.argmax(1)
            else:
                probs = F.softmax(logits / temperature, dim=1)
                token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            out[:, t] = torch.where(done, torch.full_like(token, PAD_ID), token)
            done = done | (token == EOS_ID)
            if bool(done.all()):
                break
            prev = token.unsqueeze(1)
        return out


class LatentPrior(nn.Module):
    """``f_α(z)``: an MLP with one output per attribute class (one without attributes).

    The prior energy of class ``y`` is ``E_α(z | y) = −f_α(z)_y + |z|²/2σ₀²``
    and the marginal's is ``−logsumexp_y f_α(z)_y + |z|²/2σ₀²`` (Pang & Wu
    2021, symbol-vector coupling). ``spectral_norm`` (``model.spectral_norm``)
    makes ``f_α`` 1-Lipschitz: it cannot grow a spike that the short-run
    prior chains never reach, which is how an unbounded prior diverges.
    """

    def __init__(self, z_dim: int, width: int = 200, depth: int = 2, n_out: int = 1,
                 spectral_norm: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        dim = z_dim
        for _ in range(depth):
            layers += [maybe_sn(nn.Linear(dim, width), spectral_norm), nn.SiLU()]
            dim = width
        layers.append(maybe_sn(nn.Linear(dim, n_out), spectral_norm))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
