module internal Research.Core.Native

open System.Runtime.InteropServices

[<Literal>]
let Lib = "torchshim"

[<DllImport(Lib)>]
extern nativeint ts_last_error()
