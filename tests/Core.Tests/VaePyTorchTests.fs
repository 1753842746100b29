/// PyTorch rebuilds a saved VAE from the checkpoint alone (state_dict names, and the config in the
/// file's metadata) with plain torch.nn layers, and computes what our model computes.
module Research.Core.Tests.VaePyTorchTests

open System.IO
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Models.Vae
open Research.Core.Training
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.VaeTestSupport

/// Saves a fresh VAE of `config`, has PyTorch rebuild it from the file with `model` (Python that
/// makes `model` from `config`, then `forward(x)` giving mu, logvar and the decoder's logits at mu,
/// x [4, 784]) and checks that it computes what our model computes.
let private rebuiltByPyTorch (config: VaeConfig) (model: string) =
    withPyTorch (fun () ->
        inTempFolder "vae-pytorch" (fun folder ->
            use generator = new Generator(5L)
            let vae = VaeModel.create generator config Data.Mnist.imageShape
            use _ = vae.Parameters
            let checkpoint = Path.Combine(folder, "best.safetensors")
            Checkpoint.saveModel (checkpoint, 1, vae.Parameters, [ "config", VaeConfig.toJson config ])
            use scope = new TensorScope()
            use _ = torch.no_grad ()
            let x = mnistTestDigits 4
            let q = vae.Encode x
            let logits = match vae.Decode q.mu with Probability.BernoulliLogits l -> l | other -> failwith $"{other}"
            let path = sprintf "%A" checkpoint
            let py =
                runPython
                    $"""
import struct
data = open({path}, 'rb').read()
(n,) = struct.unpack('<Q', data[:8])
header = json.loads(data[8:8 + n])
config = json.loads(header.pop('__metadata__')['config'])
body = data[8 + n:]
state = {{k: torch.frombuffer(bytearray(body[e['data_offsets'][0]:e['data_offsets'][1]]), dtype=torch.float32).reshape(e['shape'])
         for k, e in header.items()}}
nn = torch.nn
{model}
model.load_state_dict(state, strict=True)
x = torch.tensor({pyList (x.toFloat64Array ())}, dtype=torch.float32).reshape(4, 784)
mu, logvar, logits = forward(x)
print(json.dumps({{'mu': mu.flatten().tolist(), 'logvar': logvar.flatten().tolist(), 'logits': logits.flatten().tolist()}}))
"""
            assertClose "mu" 1e-5 1e-6 (floats (py.GetProperty "mu")) (q.mu.toFloat64Array ())
            assertClose "logvar" 1e-5 1e-6 (floats (py.GetProperty "logvar")) (q.logvar.toFloat64Array ())
            assertClose "logits" 1e-5 1e-5 (floats (py.GetProperty "logits")) (logits.toFloat64Array ())))

[<Tests>]
let tests =
    testList "VaePyTorchTests" [
        testList "VaePyTorchTests" [
            testCase "PyTorch rebuilds an MLP VAE from its checkpoint and gets the same mu, logvar and decoder logits" <| fun () ->
                rebuiltByPyTorch { VaeConfig.defaults with Latent = 3; Hidden = [ 16; 8 ] } """
sizes = [784] + config['hidden']
encoder = nn.ModuleDict({'hidden': nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]),
                         'mu': nn.Linear(sizes[-1], config['latent']), 'logvar': nn.Linear(sizes[-1], config['latent'])})
dsizes = [config['latent']] + config['hidden'][::-1]
decoder = nn.ModuleDict({'hidden': nn.ModuleList([nn.Linear(a, b) for a, b in zip(dsizes, dsizes[1:])]),
                         'out': nn.Linear(dsizes[-1], 784)})
model = nn.ModuleDict({'encoder': encoder, 'decoder': decoder})
def forward(x):
    h = x
    for layer in encoder['hidden']: h = torch.relu(layer(h))
    mu, logvar = encoder['mu'](h), encoder['logvar'](h)
    g = mu
    for layer in decoder['hidden']: g = torch.relu(layer(g))
    return mu, logvar, decoder['out'](g)
"""
            // Its activations are channels-last inside; the flattened features and the checkpoint
            // stay in PyTorch's NCHW order.
            testCase "PyTorch rebuilds a conv VAE from its checkpoint and gets the same mu, logvar and decoder logits" <| fun () ->
                rebuiltByPyTorch { VaeConfig.defaults with Architecture = Conv; Latent = 3; Hidden = [ 8; 16 ] } """
(c1, c2), latent = config['hidden'], config['latent']
encoder = nn.ModuleDict({'conv1': nn.Conv2d(1, c1, 4, 2, 1), 'conv2': nn.Conv2d(c1, c2, 4, 2, 1),
                         'mu': nn.Linear(c2 * 49, latent), 'logvar': nn.Linear(c2 * 49, latent)})
decoder = nn.ModuleDict({'fc': nn.Linear(latent, c2 * 49), 'deconv1': nn.ConvTranspose2d(c2, c1, 4, 2, 1),
                         'deconv2': nn.ConvTranspose2d(c1, 1, 4, 2, 1)})
model = nn.ModuleDict({'encoder': encoder, 'decoder': decoder})
def forward(x):
    h = torch.relu(encoder['conv2'](torch.relu(encoder['conv1'](x.reshape(-1, 1, 28, 28))))).flatten(1)
    mu, logvar = encoder['mu'](h), encoder['logvar'](h)
    g = torch.relu(decoder['fc'](mu)).view(-1, c2, 7, 7)
    return mu, logvar, decoder['deconv2'](torch.relu(decoder['deconv1'](g))).flatten(1)
"""
        ]
    ]
