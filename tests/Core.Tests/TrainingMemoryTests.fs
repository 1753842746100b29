/// Native memory over thousands of training steps of every model family, through the loop's own
/// epochs (Loop.trainEpoch, a scope per step): between epochs only the model, the optimizers'
/// state and the data are alive, so the live tensors after step 500 and after step 2000 are the
/// same and the RSS stays flat; also for two data-parallel ranks. These read process-wide
/// counters, so they run serially.
module Research.Core.Tests.TrainingMemoryTests

open System
open System.Collections.Generic
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Distributed
open Research.Core.Training
open Research.Core.Models.BetaVae
open Research.Core.Models.Diffusion
open Research.Core.Models.Flow
open Research.Core.Models.Gan
open Research.Core.Models
open Research.Core.Models.Vae
open Research.Core.Tests.TensorTestSupport

/// The live tensors and the RSS at a step, as the leader reads them between epochs.
type private Reading = { Step: int; Live: int64; Rss: int64 }

/// Trains a fresh model of the family for at least 2000 steps, one thread, as a rank of `group`
/// where one is given. The leader reads the live tensors and the RSS after the first epoch to
/// reach step 500 and after the last, while the other ranks wait at a barrier. Returns the
/// readings and each epoch's loss.
let private train (family: Family<'C>) (config: 'C) (settings: RunSettings) (group: ProcessGroup option) =
    torch.set_num_threads 1
    let rank = group |> Option.map _.Rank |> Option.defaultValue 0
    let dataParallel = group |> Option.map (fun g -> new DataParallel(g))
    use _ = { new IDisposable with member _.Dispose() = dataParallel |> Option.iter (fun dp -> (dp :> IDisposable).Dispose()) }
    use data = family.LoadData config settings None
    use generator = new Generator(DataParallel.Seed(settings.Seed, rank))
    use trainer = family.Create config settings data generator
    dataParallel |> Option.iter (fun dp -> dp.Attach trainer)
    let stepsPerEpoch = int ((data.train.count + int64 settings.BatchSize - 1L) / int64 settings.BatchSize)
    let barrier () = group |> Option.iter _.Barrier()
    let readings, losses = List<Reading>(), List<float>()
    let mutable epoch = 0
    while epoch * stepsPerEpoch < 2000 do
        epoch <- epoch + 1
        let result = Loop.trainEpoch trainer data.train settings.BatchSize generator dataParallel epoch epoch ignore
        let step = epoch * stepsPerEpoch
        barrier ()
        if rank = 0 then
            losses.Add result.Loss
            if (step >= 500 && readings.Count = 0) || step >= 2000 then
                settle ()
                readings.Add { Step = step; Live = Tensor.LiveCount; Rss = rss () }
        barrier ()
    readings, losses

let private expectFlat (what: string) (readings: List<Reading>, losses: List<float>) =
    let warm, last = readings[0], readings[readings.Count - 1]
    output.WriteLine $"{what}: live tensors {warm.Live} after step {warm.Step}, {last.Live} after step {last.Step}; RSS growth {(last.Rss - warm.Rss) / 1024L} KiB; loss {losses[0]:G4} -> {losses[losses.Count - 1]:G4}"
    Expect.equal last.Live warm.Live $"{what}: Tensor.LiveCount between epochs"
    Expect.isLessThan (last.Rss - warm.Rss) (20L * 1024L * 1024L) $"{what}: RSS growth after warm-up"
    Expect.all losses Double.IsFinite $"{what}: every epoch's loss is finite"

/// One process: the family's steps on the first `images` training images.
let private alone (what: string) (family: Family<'C>) (config: 'C) (batch: int) (images: int) =
    testCase $"{what}: 2000 steps keep the live tensors and RSS flat" <| fun () ->
        let threads = torch.get_num_threads ()
        try
            let settings = { family.RunDefaults with BatchSize = batch; TrainLimit = images; ValidationSize = 200; Seed = 4 }
            expectFlat what (train family config settings None)
        finally
            torch.set_num_threads threads

/// Two ranks, each a thread of this process with its own data, generator and model, like two
/// processes; 161 images in batches of 32, so rank 1 steps on a stand-in image once an epoch.
let private twoRanks (what: string) (family: Family<'C>) (config: 'C) =
    testCase $"{what} at 2 ranks (threads of this process): 2000 data-parallel steps keep the live tensors and RSS flat" <| fun () ->
        let threads = torch.get_num_threads ()
        let settings = { family.RunDefaults with BatchSize = 32; TrainLimit = 161; ValidationSize = 200; Seed = 5 }
        let port = DistributedTests.freePort ()
        let results = Array.zeroCreate 2
        let failures = Collections.Concurrent.ConcurrentQueue<exn>()
        let rank (r: int) () =
            try
                use group = ProcessGroup.Join { Rank = r; WorldSize = 2; LocalRank = r; MasterAddr = "127.0.0.1"; MasterPort = port
                                                AgentAttempt = None; Timeout = TimeSpan.FromSeconds 30.0 }
                results[r] <- train family config settings (Some group)
            with e -> failures.Enqueue e
        let ranks = [| for r in 0..1 -> Threading.Thread(rank r) |]
        for t in ranks do t.Start()
        for t in ranks do t.Join()
        torch.set_num_threads threads
        Expect.isEmpty failures "no rank failed"
        expectFlat what results[0]

[<Tests>]
let tests =
    testSequenced <| testList "TrainingMemoryTests" [
        alone "MLP VAE" VaeRun.family { VaeConfig.defaults with Latent = 8; Hidden = [ 64 ] } 32 320
        alone "conv VAE, learned Gaussian" VaeRun.family
            { VaeConfig.defaults with Architecture = Conv; Hidden = [ 8; 16 ]; Latent = 4; Likelihood = GaussianLearned; Binarization = NoBinarization } 16 160
        // Two networks, two optimizers, BatchNorm buffers, dropout.
        alone "MLP GAN" GanRun.family { GanConfig.mlp with Latent = 8; GeneratorHidden = [ 32; 64 ]; DiscriminatorHidden = [ 64; 32 ] } 32 320
        alone "DCGAN" GanRun.family { GanConfig.dcgan with Latent = 8; GeneratorHidden = [ 8 ]; DiscriminatorHidden = [ 8 ] } 32 320
        alone "multi-scale flow, variational dequantization" FlowRun.family
            { FlowConfig.multiScale with Hidden = [ 8; 8; 8 ]; Couplings = [ 2; 2; 2 ]; Warmup = 4; Dequantization = Variational } 8 80
        // The weights' average too.
        alone "diffusion U-Net with attention" DiffusionRun.family
            { DiffusionConfig.defaults with Channels = 8; Attention = true; Steps = 100; Warmup = 20 } 4 40
        alone "beta-VAE" BetaVaeRun.family { Beta = 4.0; Latent = 4; Hidden = 32; LearningRate = 1e-3 } 32 320
        alone "MLP classifier" MlpRun.family { MlpRun.defaults with Hidden = 32 } 32 320
        // Row broadcasts, gradient buckets before D's and G's steps, the steps' figures.
        twoRanks "DCGAN" GanRun.family { GanConfig.dcgan with Latent = 8; GeneratorHidden = [ 8 ]; DiscriminatorHidden = [ 8 ] }
    ]
