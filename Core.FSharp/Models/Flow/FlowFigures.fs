/// The flow's own report panels: the reconstruction check f^-1(f(x)) = x, and interpolations in the
/// latent space between the latents of two test images and between random z (seed 004, figure 9).
module Research.Core.Models.Flow.FlowFigures

open Research.Core
open Research.Core.IO
open Research.Core.Training

let private grid (flow: Flow) (images: Tensor) rows cols =
    Png.Grid((images / 255.0).toFloat32Array (), flow.Image.Height, flow.Image.Width, rows, cols)

/// The panels of a flow run, from its best checkpoint (its last if it has none yet).
let panels (folder: string) (dataFolder: string option) =
    let run = RunFolder folder
    let checkpoint = run.BestOrLast
    let _, settings, flow = FlowRun.load (folder, checkpoint)
    use _ = flow.Parameters
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    use noise = new Generator(int64 settings.Seed + 7L)
    use mnist = Family.mnist settings dataFolder
    use test = mnist.test.all ()
    let x = FlowRun.pixels (test.x.narrow (0, 0L, 16L))
    Flow.withNoise flow noise (fun () ->
        // The reconstruction: the dequantized images through the flow and back (every latent part,
        // the factored-out ones included), quantized again.
        let z, _ = Flow.encode flow x
        let back = Flow.decode flow z
        let worst = (back - x).abs().max().item ()
        // Interpolations: straight lines between the latents of test images 0..3 and 4..7, and
        // between random z, 10 steps each, every part of the latent moving together.
        let steps = 10L
        let t = (torch.linspace (0.0, 1.0, int steps)).view (1L, steps, 1L, 1L, 1L)
        let line (a: Latent) (b: Latent) =
            let between (a: Tensor) (b: Tensor) =
                let a, b = a.unsqueeze 1, b.unsqueeze 1
                let zs = a + (b - a) * t
                zs.reshape (Array.append [| a.size 0 * steps |] zs.shape[2..])
            Flow.decode flow (Latent.map2 between a b)
        let take first = Latent.map (fun p -> p.narrow (0, first, 4L)) z
        let between = line (take 0L) (take 4L)
        let random = line (Flow.drawLatent flow 4 1.0 noise) (Flow.drawLatent flow 4 1.0 noise)
        [ Panel.Images("Reconstruction check", $"test images (top) and f^-1(f(x)) (bottom); largest pixel difference {worst:G3} of 255",
                       [ checkpoint, grid flow (torch.cat ([ x; back ], 0)) 2 16 ])
          Panel.Images("Latent interpolations", "rows 1-4: between the latents of two test images; rows 5-8: between random z",
                       [ checkpoint, grid flow (torch.cat ([ between; random ], 0)) 8 (int steps) ]) ])
