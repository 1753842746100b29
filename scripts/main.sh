#!/usr/bin/env bash
# Set-up (idempotent), then the main job: two short VAE trainings on MNIST (latent 20, as in
# pytorch/examples, and latent 2, which has a drawable manifold), a short DCGAN training on two
# data-parallel ranks (torchrun) with samples drawn from it, a short multi-scale flow with its test
# bits per dimension, a short denoising diffusion model with its bound in bits per dimension and
# FID against DDIM's steps, a short beta-VAE (the family added as its folder and one registry line),
# the sample quality of the five image families (FID, KID, precision/recall, density/coverage,
# classifier score, on 2,000 samples each), and one HTML report comparing the runs.
# The runs are the README's recipes made short, under the recipes' names: runs/main/dcgan is the
# recipe's runs/dcgan trained for 2 epochs on 20,000 images, and so on.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/setup.sh
research() { dotnet Experiments.CSharp/bin/Release/net10.0/research.dll "$@"; }
epochs="${EPOCHS:-5}"
for latent in 20 2; do
  rm -rf "runs/main/latent$latent"
  research vae train --latent "$latent" --epochs "$epochs" --image-epochs "0,1,$epochs" --out "runs/main/latent$latent"
done
rm -rf runs/main/dcgan
# The DCGAN trains data-parallel: two ranks of one thread each, started by torchrun (python3-torch's),
# each taking half of every batch of 128; rank 0 prints and writes the run folder.
port="$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
/usr/bin/python3 -m torch.distributed.run --nproc_per_node 2 --master_addr 127.0.0.1 --master_port "$port" \
  --redirects 9:1 --tee 9:1 --no_python dotnet Experiments.CSharp/bin/Release/net10.0/research.dll \
  gan train --arch dcgan --epochs 2 --limit 20000 --image-epochs 0,1,2 --threads 1 --out runs/main/dcgan
research gan sample runs/main/dcgan --n 1000
rm -rf runs/main/flow
research flow train --epochs 1 --limit 5000 --image-epochs 0,1 --out runs/main/flow
research flow eval runs/main/flow --limit 1000 --samples 4
rm -rf runs/main/diffusion
research diffusion train --epochs 2 --limit 5000 --image-epochs 0,1,2 --out runs/main/diffusion
research diffusion eval runs/main/diffusion --limit 1000
research diffusion sweep runs/main/diffusion --n 200 --steps 10,20,50 --ancestral false
rm -rf runs/main/beta-vae
research beta-vae train --epochs "$epochs" --limit 20000 --image-epochs "0,$epochs" --out runs/main/beta-vae
research score runs/main/latent20 runs/main/dcgan runs/main/flow runs/main/diffusion runs/main/beta-vae --n 2000 --steps 20
research report runs/main/latent20 runs/main/latent2 runs/main/dcgan runs/main/flow runs/main/diffusion runs/main/beta-vae --out runs/main
echo "open runs/main/report.html (offline; plotly.min.js is beside it)"
