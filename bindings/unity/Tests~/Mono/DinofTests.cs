// Tests of the engine-independent C# layer (Runtime/, without Runtime/Unity) against the real libdinof, run with
// Mono by scripts/test-engines.sh. Arguments: FIXTURES_DIR REFERENCE_NPY. The reference is the Rust CLI's output
// for `dinof sample --bundle FIXTURES/gauss-vp --n 3 --seed 11 --steps 30 --out REFERENCE_NPY`.
// Prints one line per failure and, last, "C# tests (Mono): N passed, M failed".
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Dinof;
using Dinof.Native;

static class DinofTests
{
    static string fixtures;
    static float[] reference;  // 3 x 1 x 4 x 4
    const int RefCount = 3, RefSteps = 30;
    const ulong RefSeed = 11;
    static int passed, failed;

    static int Main(string[] args)
    {
        fixtures = args[0];
        reference = ReadNpy(args[1]);
        bool ort = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ORT_DYLIB_PATH"));

        Test("abi version and struct layouts agree with the library", AbiAndLayout);
        Test("every status constant is one the library names", StatusNames);
        Test("native callbacks are static [MonoPInvokeCallback] methods (IL2CPP)", CallbacksAreStatic);
        Test("load and info", LoadAndInfo);
        Test("float samples identical to the Rust CLI", FloatMatchesCli);
        Test("Gaussian start: GaussianTM, DinofStart.Gaussian reported, a missing T_m names the available ones", GaussianStart);
        Test("RGBA8 identical to the CLI's pixels, quantised as the library documents", Rgba8MatchesCli);
        Test("BottomUp rows are the TopDown rows reversed (Unity texture order)", BottomUpFlips);
        Test("grid helper tiles images", Grid);
        Test("report: resolved seed reproduces a random run", ReportSeed);
        Test("job: progress polled until done, same images as the CLI", JobProgress);
        Test("job: Cancel() ends it with Cancelled and a message", JobCancel);
        Test("async Task wrapper: result, progress, CancellationToken", AsyncWrapper);
        Test("load from memory", LoadFromMemory);
        Test("class labels", Labels);
        Test("class names: LabelNames, LabelIndex by name or index, unknown names rejected with the valid ones", ClassNames);
        Test("labels by name give each class its mean", LabelsByNameGiveClassMeans);
        Test("guidance: w = 1 doubles score evaluations, is reported, moves the class mean to (1 + w) mu", Guidance);
        Test("errors: each status the library can be made to return, with its message", () => Errors(ort));
        Test("progress callback that throws: cancelled, rethrown on the caller's thread", CallbackThrows);
        Test("job progress callback that throws: rethrown by Wait", JobCallbackThrows);
        Test("log handler: messages arrive; a throwing handler cannot unwind into the library", LogHandler);
        Test("disposed and null handles: ObjectDisposedException / NullPointer, no crash, no double free", Disposed);
        Test("a job outlives its disposed model (the library's reference keeps it)", JobOutlivesModel);
        Test("8 threads share one model: each gets the images of its seed", EightThreads);
        Test("forgotten models and jobs are freed by finalizers (library sees none alive)", Finalizers);

        Console.WriteLine("C# tests (Mono): {0} passed, {1} failed", passed, failed);
        return failed == 0 ? 0 : 1;
    }

    static void Test(string name, Action body)
    {
        try
        {
            body();
            passed++;
            Console.WriteLine("ok    " + name);
        }
        catch (Exception e)
        {
            failed++;
            Console.WriteLine("FAIL  " + name + ": " + e);
        }
    }

    sealed class CheckFailed : Exception { public CheckFailed(string m) : base(m) { } }

    static void Check(bool cond, string what)
    {
        if (!cond) throw new CheckFailed(what);
    }

    static T Throws<T>(Action body, string what) where T : Exception
    {
        try { body(); }
        catch (T e) { return e; }
        catch (Exception e) { throw new CheckFailed(what + ": threw " + e.GetType().Name + ": " + e.Message); }
        throw new CheckFailed(what + ": did not throw " + typeof(T).Name);
    }

    // Expects a DinofException with this status and a message of the library's own (not just the status name).
    static DinofException Fails(DinofStatus status, Action body, string mentions = null)
    {
        var e = Throws<DinofException>(body, status.ToString());
        Check(e.Status == status, "expected " + status + ", got " + e.Status + ": " + e.Message);
        Check(e.Message.Length > 0 && e.Message != DinofException.StatusName(status), status + ": no library message");
        if (mentions != null) Check(e.Message.Contains(mentions), status + ": message '" + e.Message + "' lacks '" + mentions + "'");
        return e;
    }

    static string Fixture(string name) { return Path.Combine(fixtures, name); }
    static SampleOptions RefOptions() { var o = new SampleOptions(RefCount, RefSeed); o.Steps = RefSteps; return o; }

    static float[] ReadNpy(string path)
    {
        var bytes = File.ReadAllBytes(path);
        int headerLen = BitConverter.ToUInt16(bytes, 8);
        string header = Encoding.ASCII.GetString(bytes, 10, headerLen);
        if (!header.Contains("'<f4'")) throw new Exception("not float32: " + header);
        int start = 10 + headerLen;
        var data = new float[(bytes.Length - start) / 4];
        Buffer.BlockCopy(bytes, start, data, 0, data.Length * 4);
        return data;
    }

    // The library's documented packing of one grey value: round(clamp(v, 0, 1) * 255), halves away from zero.
    static byte Quantise(float v)
    {
        float p = Math.Min(Math.Max(v, 0f), 1f) * 255f;
        return (byte)Math.Round((double)p, MidpointRounding.AwayFromZero);
    }

    static bool Same(float[] a, float[] b) { return a.Length == b.Length && a.SequenceEqual(b); }
    static bool Same(byte[] a, byte[] b) { return a.Length == b.Length && a.SequenceEqual(b); }

    static void AbiAndLayout()
    {
        Check(DinofLibrary.AbiVersion == DinofNative.DINOF_ABI_VERSION, "ABI version");
        Check(DinofLibrary.Version.Split('.').Length == 3, "version string " + DinofLibrary.Version);
        string p = DinofLibrary.LayoutProblem();
        Check(p == null, "layout: " + p);
        DinofLibrary.EnsureCompatible();
    }

    static void StatusNames()
    {
        var names = new HashSet<string>();
        foreach (DinofStatus s in Enum.GetValues(typeof(DinofStatus)))
        {
            Check(names.Add(DinofException.StatusName(s)), s + ": two members name the same library status");
            string name = DinofException.StatusName(s);
            Check(name != "unknown status", s + " (" + (int)s + ") is unknown to the library");
            // The exception for a status without a message falls back to the library's name.
            Check(new DinofException(s, null).Message == name, s + " fallback message");
        }
    }

    // IL2CPP can only hand static methods marked [MonoPInvokeCallback(typeof(D))] to native code: every method of the
    // runtime assembly whose signature fits a native callback delegate must be one.
    static void CallbacksAreStatic()
    {
        var asm = typeof(DinofNative).Assembly;
        var delegates = asm.GetTypes().Where(t => t.Namespace == "Dinof.Native" && typeof(Delegate).IsAssignableFrom(t)).ToList();
        Check(delegates.Count == 2, "dinof_progress_fn and dinof_log_fn, found " + delegates.Count);
        int thunks = 0;
        const System.Reflection.BindingFlags all = System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic
            | System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.DeclaredOnly;
        foreach (var type in asm.GetTypes())
            foreach (var m in type.GetMethods(all))
                foreach (var d in delegates)
                {
                    var invoke = d.GetMethod("Invoke");
                    if (m.ReturnType != invoke.ReturnType || !m.GetParameters().Select(p => p.ParameterType)
                            .SequenceEqual(invoke.GetParameters().Select(p => p.ParameterType)) || m.Name == "Invoke")
                        continue;
                    var attr = m.GetCustomAttributes(typeof(AOT.MonoPInvokeCallbackAttribute), false)
                        .Cast<AOT.MonoPInvokeCallbackAttribute>().FirstOrDefault();
                    Check(m.IsStatic, type.Name + "." + m.Name + " must be static");
                    Check(attr != null && attr.DelegateType == d, type.Name + "." + m.Name + " needs [MonoPInvokeCallback(typeof(" + d.Name + "))]");
                    thunks++;
                }
        Check(thunks == 2, "2 callback methods (progress, log), found " + thunks);
    }

    static void LoadAndInfo()
    {
        using (var m = DinofModel.Load(Fixture("gauss-vp")))
        {
            var i = m.Info;
            Check(i.Name == "gauss-vp" && i.Channels == 1 && i.Height == 4 && i.Width == 4, "shape");
            Check(i.ImageLength == 16 && i.Rgba8Length == 64 && i.Classes == 0, "lengths");
            Check(i.TM.Length == 2 && i.TM[0] == 0.4 && i.TM[1] == 0.6, "t_m");
            Check(i.HasFlowStart && i.DefaultStart == DinofStart.Flow && i.Sde == DinofSde.Vp, "flow start");
            Check(i.Backend == "tract" && i.ExecutionProviders.Length == 1 && i.ExecutionProviders[0] == "cpu", "backend");
            Check(i.LabelNames != null && i.LabelNames.Length == 0, "an unconditional bundle has no class names");
            Check(!i.HasGuidance && i.DefaultGuidance == 0.0, "an unconditional bundle cannot guide");
        }
    }

    static void GaussianStart()
    {
        using (var m = DinofModel.Load(Fixture("gauss-vp-aniso")))
        {
            var i = m.Info;
            Check(i.GaussianTM.Length == 2 && i.GaussianTM[0] == 0.4 && i.GaussianTM[1] == 0.6 && i.HasGaussianStart, "gaussian t_m");
            Check(i.TM.Length == 0 && !i.HasFlowStart && i.DefaultStart == DinofStart.Gaussian && i.DefaultTStart == 0.6, "default start");
            SampleReport r;
            var x = m.Sample(new SampleOptions(2, 3) { Start = DinofStart.Gaussian, TM = 0.4, Steps = 20 }, out r);
            Check(x.Length == 32 && r.Start == DinofStart.Gaussian && r.TStart == 0.4 && r.FlowEvals == 1, "report");
            Fails(DinofStatus.InvalidArgument, () => m.Sample(new SampleOptions(1, 1) { Start = DinofStart.Gaussian, TM = 0.5 }), "[0.4, 0.6]");
        }
        using (var m = DinofModel.Load(Fixture("gauss-vp")))
        {
            Check(m.Info.GaussianTM.Length == 0 && !m.Info.HasGaussianStart, "no Gaussians in an older bundle");
            Fails(DinofStatus.InvalidArgument, () => m.Sample(new SampleOptions(1, 1) { Start = DinofStart.Gaussian }), "needs a bundle with a Gaussian start");
        }
    }

    static void FloatMatchesCli()
    {
        using (var m = DinofModel.Load(Fixture("gauss-vp")))
        {
            var x = m.Sample(RefOptions());
            Check(x.Length == reference.Length, "length " + x.Length);
            Check(Same(x, reference), "floats differ from the CLI's .npy");
        }
    }

    static void Rgba8MatchesCli()
    {
        using (var m = DinofModel.Load(Fixture("gauss-vp")))
        {
            var px = m.SampleRgba8(RefOptions());
            Check(px.Length == RefCount * 64, "length");
            var want = new byte[px.Length];
            for (int k = 0; k < reference.Length; k++)
            {
                byte g = Quantise(reference[k]);
                want[4 * k] = want[4 * k + 1] = want[4 * k + 2] = g;
                want[4 * k + 3] = 255;
            }
            Check(Same(px, want), "RGBA8 differs from the quantised CLI pixels");
        }
    }

    static void BottomUpFlips()
    {
        using (var m = DinofModel.Load(Fixture("gauss-vp")))
        {
            var top = m.SampleRgba8(RefOptions(), RowOrder.TopDown);
            var bottom = m.SampleRgba8(RefOptions(), RowOrder.BottomUp);
            const int row = 16, img = 64;
            for (int k = 0; k < RefCount; k++)
                for (int y = 0; y < 4; y++)
                    for (int b = 0; b < row; b++)
                        Check(bottom[k * img + y * row + b] == top[k * img + (3 - y) * row + b], "image " + k + " row " + y);
            // Not a no-op on this data: the rows differ.
            Check(!Same(top, bottom), "flip changed nothing");
            // The CLI's first image, bottom row first: texel (0,0) in Unity = bottom-left = CLI pixel (row 3, col 0).
            Check(bottom[0] == Quantise(reference[12]), "bottom-left texel");
            DinofImage.FlipRows(bottom, 4, 4, RefCount);
            Check(Same(top, bottom), "flipping twice restores");
        }
    }

    static void Grid()
    {
        var imgs = new byte[3 * 2 * 2 * 4];
        for (int k = 0; k < imgs.Length; k++) imgs[k] = (byte)k;
        int w, h;
        var g = DinofImage.Grid(imgs, 2, 2, 3, 2, RowOrder.TopDown, out w, out h);
        Check(w == 4 && h == 4 && g.Length == 64, "grid size");
        // Row 0 of the grid: image 0 row 0, then image 1 row 0.
        Check(g[0] == 0 && g[8] == 16 && g[16] == 8 && g[32] == 32 && g[40] == 0 && g[63] == 0, "grid tiles");
        var gb = DinofImage.Grid(imgs, 2, 2, 3, 2, RowOrder.BottomUp, out w, out h);
        Check(gb[0] == 40 && gb[48] == 0, "bottom-up grid");
    }

    static void ReportSeed()
    {
        using (var m = DinofModel.Load(Fixture("gauss-vp")))
        {
            SampleReport r;
            var o = new SampleOptions { Count = 2, Steps = RefSteps };
            var a = m.Sample(o, out r);
            Check(r.Steps == RefSteps && r.FlowEvals == 1 && r.Start == DinofStart.Flow, "report fields");
            var again = m.Sample(new SampleOptions(2, r.Seed) { Steps = RefSteps });
            Check(Same(a, again), "the reported seed reproduces the images");
        }
    }

    static void JobProgress()
    {
        using (var m = DinofModel.Load(Fixture("gauss-vp")))
        using (var job = m.Start(RefOptions()))
        {
            double last = 0;
            int polls = 0;
            while (!job.IsDone)
            {
                var p = job.ProgressInfo;
                Check(p.Fraction >= last && p.Fraction <= 1 && p.Total == RefCount, "progress " + p.Fraction);
                last = p.Fraction;
                polls++;
                Thread.Sleep(1);
            }
            var end = job.ProgressInfo;
            Check(end.Phase == DinofPhase.Finished && end.Fraction == 1.0 && end.Done == RefCount, "finished progress");
            Check(job.Status == DinofStatus.Ok && job.ErrorMessage() == "", "status ok");
            Check(Same(job.GetResult(), reference), "job floats differ from the CLI");
            Check(Same(job.GetResultRgba8(), m.SampleRgba8(RefOptions())), "job RGBA8 differs from SampleRgba8");
            Check(job.GetReport().Seed == RefSeed, "job report");
        }
    }

    static DinofJob StartLong(DinofModel m, Func<DinofProgress, bool> cb = null)
    {
        var o = new SampleOptions(2, 1) { Steps = 1000000 };
        return m.Start(o, cb);
    }

    static void JobCancel()
    {
        using (var m = DinofModel.Load(Fixture("gauss-vp")))
        using (var job = StartLong(m))
        {
            while (job.ProgressInfo.Phase == DinofPhase.Pending) Thread.Sleep(1);
            Check(!job.IsDone && job.Status == DinofStatus.Timeout && !job.Wait(0), "still running");
            Fails(DinofStatus.NotReady, () => DinofException.ThrowIfFailed(
                DinofNative.dinof_job_result(job.Handle, new float[32], (UIntPtr)32u)));
            job.Cancel();
            var e = Fails(DinofStatus.Cancelled, () => job.Wait(), "cancel");
            Check(job.IsDone && job.Status == DinofStatus.Cancelled && job.ErrorMessage() == e.Message, "cancelled state");
            Fails(DinofStatus.Cancelled, () => job.GetResultRgba8());
            job.Cancel();  // after the end: harmless
        }
    }

    static void AsyncWrapper()
    {
        using (var m = DinofModel.Load(Fixture("gauss-vp")))
        {
            var seen = new List<double>();
            var progress = new SyncProgress(seen);
            var px = m.SampleRgba8Async(RefOptions(), RowOrder.BottomUp, progress).Result;
            Check(Same(px, m.SampleRgba8(RefOptions(), RowOrder.BottomUp)), "async result");
            Check(seen.Count > 0 && seen[seen.Count - 1] == 1.0, "progress reported");

            var cts = new CancellationTokenSource();
            var task = m.SampleRgba8Async(new SampleOptions(2, 1) { Steps = 1000000 }, RowOrder.TopDown, null, cts.Token);
            Thread.Sleep(20);
            cts.Cancel();
            var ae = Throws<AggregateException>(() => task.Wait(), "cancelled task");
            Check(ae.InnerException is OperationCanceledException, "OperationCanceledException, got " + ae.InnerException);
        }
    }

    // IProgress that records on the reporting thread (Progress<T> would post to a SynchronizationContext).
    sealed class SyncProgress : IProgress<double>
    {
        readonly List<double> seen;
        public SyncProgress(List<double> seen) { this.seen = seen; }
        public void Report(double v) { lock (seen) seen.Add(v); }
    }

    static Dictionary<string, byte[]> BundleFiles(string dir)
    {
        var files = new Dictionary<string, byte[]>();
        foreach (var f in Directory.GetFiles(dir))
            if (Path.GetFileName(f) != "dinof.json") files[Path.GetFileName(f)] = File.ReadAllBytes(f);
        return files;
    }

    static void LoadFromMemory()
    {
        string dir = Fixture("gauss-vp");
        using (var m = DinofModel.LoadFromMemory(File.ReadAllBytes(Path.Combine(dir, "dinof.json")), BundleFiles(dir)))
            Check(Same(m.Sample(RefOptions()), reference), "bundle from memory gives the CLI's images");
        var files = BundleFiles(dir);
        files.Remove("score.onnx");
        Fails(DinofStatus.MissingFile, () => DinofModel.LoadFromMemory(File.ReadAllBytes(Path.Combine(dir, "dinof.json")), files), "score.onnx");
    }

    static void Labels()
    {
        using (var m = DinofModel.Load(Fixture("gauss-vp-class")))
        {
            var o = new SampleOptions(4, 3) { Steps = RefSteps, Labels = new long[] { 0, 1, 0, 1 } };
            var a = m.Sample(o);
            Check(a.Length == 64, "labelled sample");
            // A conditional model needs labels: none is an error that says so, not a guess.
            Fails(DinofStatus.InvalidArgument, () => m.Sample(new SampleOptions(4, 3) { Steps = RefSteps }), "no labels given");
            o.Labels = new long[] { 5 };
            Fails(DinofStatus.InvalidArgument, () => m.Sample(o));
        }
    }

    // gauss-vp-class-cfg: classes "Low" / "High" (data N(-0.4, 0.2^2) / N(0.4, 0.2^2) per value, in SDE space) and a
    // null label scoring N(0, 0.2^2), so guidance w gives class means (1 + w) mu exactly.
    const string CfgBundle = "gauss-vp-class-cfg";

    static void ClassNames()
    {
        using (var m = DinofModel.Load(Fixture(CfgBundle)))
        {
            var i = m.Info;
            Check(i.Classes == 2 && i.LabelNames.SequenceEqual(new[] { "Low", "High" }),
                "LabelNames " + string.Join(",", i.LabelNames));
            Check(i.HasGuidance && i.DefaultGuidance == 0.0, "has guidance, no default scale");
            Check(m.LabelIndex("high") == 1 && m.LabelIndex("LOW") == 0, "names ignore case");
            Check(m.LabelIndex("1") == 1, "an index as text");
            Check(m.LabelIndices("High", "low", "0").SequenceEqual(new long[] { 1, 0, 0 }), "LabelIndices");
            var e = Fails(DinofStatus.InvalidArgument, () => m.LabelIndex("Medium"), "Medium");
            Check(e.Message.Contains("Low") && e.Message.Contains("High"), "message lists the valid names: " + e.Message);
            Fails(DinofStatus.InvalidArgument, () => m.LabelIndex("2"));
            Throws<ArgumentNullException>(() => m.LabelIndex(null), "null name");
        }
        using (var m = DinofModel.Load(Fixture("gauss-vp")))
            Fails(DinofStatus.InvalidArgument, () => m.LabelIndex("0"));
        using (var m = DinofModel.Load(Fixture("gauss-vp-class")))
        {
            Check(m.Info.LabelNames.Length == 0 && !m.Info.HasGuidance, "class bundle without names or null label");
            Check(m.LabelIndex("1") == 1, "indices as text work without names");
            Fails(DinofStatus.InvalidArgument, () => m.LabelIndex("High"));
        }
    }

    // Raw (SDE-space) values of n images of one class, from the prior (no flow involved), many steps.
    static SampleOptions ClassRun(long label, double? guidance)
    {
        return new SampleOptions(16, 5) { Steps = 200, Start = DinofStart.Prior, Raw = true, Labels = new[] { label }, Guidance = guidance };
    }

    static double Mean(float[] x) { return x.Select(v => (double)v).Average(); }

    static void LabelsByNameGiveClassMeans()
    {
        using (var m = DinofModel.Load(Fixture(CfgBundle)))
        {
            // 256 values of std 0.2 each: the standard error of a mean is 0.0125, so 0.06 is ~5 of them.
            double low = Mean(m.Sample(ClassRun(m.LabelIndex("low"), null)));
            double high = Mean(m.Sample(ClassRun(m.LabelIndex("HIGH"), null)));
            Check(Math.Abs(low + 0.4) < 0.06, "class Low mean " + low);
            Check(Math.Abs(high - 0.4) < 0.06, "class High mean " + high);
        }
    }

    static void Guidance()
    {
        using (var m = DinofModel.Load(Fixture(CfgBundle)))
        {
            long high = m.LabelIndex("High");
            SampleReport plain, none, guided;
            var a = m.Sample(ClassRun(high, null), out plain);
            var b = m.Sample(ClassRun(high, 0.0), out none);
            Check(Same(a, b) && none.Guidance == 0.0, "Guidance 0 = none = this bundle's default");
            var g = m.Sample(ClassRun(high, 1.0), out guided);
            Check(plain.Guidance == 0.0 && guided.Guidance == 1.0, "reported guidance " + plain.Guidance + " / " + guided.Guidance);
            Check(plain.ScoreEvals == 200 && guided.ScoreEvals == 2 * plain.ScoreEvals,
                "score evaluations " + plain.ScoreEvals + " / " + guided.ScoreEvals);
            Check(Math.Abs(Mean(g) - 0.8) < 0.06, "guided High mean " + Mean(g));
            // Jobs carry the option and the report too.
            using (var job = m.Start(ClassRun(high, 1.0)))
            {
                job.Wait();
                Check(Same(job.GetResult(), g) && job.GetReport().Guidance == 1.0, "job with guidance");
            }
            var o = ClassRun(high, double.NaN);
            Fails(DinofStatus.InvalidArgument, () => m.Sample(o), "guidance");
        }
        // A model without a null label cannot guide.
        using (var m = DinofModel.Load(Fixture("gauss-vp-class")))
            Fails(DinofStatus.InvalidArgument, () => m.Sample(ClassRun(1, 1.0)));
        // A bundle whose manifest sets a default scale: null keeps it, 0 turns it off.
        string dir = TempBundle(CfgBundle);
        try
        {
            string manifest = Path.Combine(dir, "dinof.json");
            string json = File.ReadAllText(manifest);
            Check(json.Contains("\"temperature\": 1.0"), "fixture manifest changed");
            File.WriteAllText(manifest, json.Replace("\"temperature\": 1.0", "\"temperature\": 1.0, \"guidance\": 2.0"));
            using (var m = DinofModel.Load(dir))
            {
                SampleReport byDefault, off;
                m.Sample(ClassRun(1, null), out byDefault);
                m.Sample(ClassRun(1, 0.0), out off);
                Check(m.Info.DefaultGuidance == 2.0 && byDefault.Guidance == 2.0, "the bundle's default scale " + byDefault.Guidance);
                Check(off.Guidance == 0.0 && 2 * off.ScoreEvals == byDefault.ScoreEvals, "Guidance 0 = none " + off.Guidance);
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [DllImport("libc", SetLastError = true)]
    static extern int symlink(string target, string linkpath);

    static string TempBundle(string from)
    {
        string dir = Path.Combine(Path.GetTempPath(), "dinof-cs-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(Fixture(from))) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }

    static void Errors(bool ort)
    {
        var seen = new HashSet<DinofStatus>();
        Action<DinofStatus, Action, string> fails = (s, body, mentions) => { Fails(s, body, mentions); seen.Add(s); };
        fails(DinofStatus.InvalidManifest, () => DinofModel.Load(Fixture("bad-json")), null);
        fails(DinofStatus.UnsupportedVersion, () => DinofModel.Load(Fixture("bad-version")), null);
        fails(DinofStatus.MissingFile, () => DinofModel.Load(Fixture("bad-missing-file")), null);
        fails(DinofStatus.MissingFile, () => DinofModel.Load("/nonexistent/bundle"), "/nonexistent/bundle");
        fails(DinofStatus.ChecksumMismatch, () => DinofModel.Load(Fixture("bad-checksum")), null);
        fails(DinofStatus.InvalidOnnx, () => DinofModel.Load(Fixture("bad-corrupt-onnx")), null);
        fails(DinofStatus.NetworkMismatch, () => DinofModel.Load(Fixture("bad-shape")), null);
        fails(DinofStatus.BackendUnavailable, () => DinofModel.Load(Fixture("gauss-vp"),
            new LoadOptions { Backend = DinofBackend.Ort, OrtLibraryPath = "/nonexistent/libonnxruntime.so" }), null);
        if (ort)
            fails(DinofStatus.ExecutionProviderUnavailable, () => DinofModel.Load(Fixture("gauss-vp"),
                new LoadOptions { Backend = DinofBackend.Ort, ExecutionProvider = DinofExecutionProvider.Cuda }), null);
        // A path that is not valid UTF-8 cannot be written in C#; a non-ASCII one must arrive intact.
        fails(DinofStatus.MissingFile, () => DinofModel.Load("/nonexistent/bündel-模型"), "bündel-模型");

        // Hostile bundles.
        string manifest = File.ReadAllText(Path.Combine(Fixture("gauss-vp"), "dinof.json"));
        var files = BundleFiles(Fixture("gauss-vp"));
        fails(DinofStatus.BadFileName, () => DinofModel.LoadFromMemory(Encoding.UTF8.GetBytes(
            manifest.Replace("\"file\": \"score.onnx\"", "\"file\": \"../score.onnx\"")), files), null);
        fails(DinofStatus.ManifestTooLarge, () => DinofModel.LoadFromMemory(Encoding.UTF8.GetBytes(
            manifest + new string(' ', DinofNative.DINOF_MAX_MANIFEST_BYTES)), files), null);
        string outside = TempBundle("gauss-vp"), elsewhere = TempBundle("gauss-vp");
        File.Delete(Path.Combine(outside, "score.onnx"));
        Check(symlink(Path.Combine(elsewhere, "score.onnx"), Path.Combine(outside, "score.onnx")) == 0, "symlink");
        fails(DinofStatus.FileOutsideBundle, () => DinofModel.Load(outside), null);
        string dirManifest = TempBundle("gauss-vp");
        File.Delete(Path.Combine(dirManifest, "dinof.json"));
        Directory.CreateDirectory(Path.Combine(dirManifest, "dinof.json"));
        fails(DinofStatus.NotARegularFile, () => DinofModel.Load(dirManifest), null);
        foreach (var d in new[] { outside, elsewhere, dirManifest }) Directory.Delete(d, true);

        using (var m = DinofModel.Load(Fixture("gauss-vp")))
        {
            fails(DinofStatus.InvalidArgument, () => m.Sample(new SampleOptions(2, 1) { TM = 0.123 }), "0.123");
            fails(DinofStatus.InvalidArgument, () => m.Sample(new SampleOptions(0, 1)), null);
            fails(DinofStatus.BadEnumValue, () => m.Sample(new SampleOptions(1, 1) { Method = (DinofMethod)99 }), "method");
            fails(DinofStatus.BadEnumValue, () => m.Sample(new SampleOptions(1, 1) { Schedule = (DinofSchedule)77 }), "schedule");
            fails(DinofStatus.InvalidArgument, () => m.SampleRgba8(new SampleOptions(1, 1) { Raw = true }), null);
            fails(DinofStatus.OutOfMemory, () => m.Start(new SampleOptions(1UL << 44, 1)), null);
            fails(DinofStatus.Cancelled, () => m.Sample(RefOptions(), p => p.Step < 3), null);
            fails(DinofStatus.BufferTooSmall, () =>
            {
                var o = new dinof_sample_options();
                DinofException.ThrowIfFailed(DinofNative.dinof_sample_options_init(ref o, (uint)Marshal.SizeOf(o)));
                o.n = 2;
                var rep = new dinof_sample_report { struct_size = (uint)Marshal.SizeOf(typeof(dinof_sample_report)) };
                DinofException.ThrowIfFailed(DinofNative.dinof_sample(m.Handle, ref o, new float[16], (UIntPtr)16u, null, IntPtr.Zero, ref rep));
            }, null);
            fails(DinofStatus.StructSize, () =>
            {
                var o = new dinof_sample_options();
                DinofException.ThrowIfFailed(DinofNative.dinof_sample_options_init(ref o, 4));
            }, null);
            fails(DinofStatus.StructSize, () =>
            {
                var o = new dinof_sample_options();
                DinofException.ThrowIfFailed(DinofNative.dinof_sample_options_init(ref o, (uint)Marshal.SizeOf(o) + 8));
            }, "newer");
            fails(DinofStatus.Busy, () => DinofLibrary.Shutdown(0), "model");
            // Library calls from inside a progress callback: the status comes back as the exception, on this thread.
            fails(DinofStatus.CalledFromCallback, () => m.Sample(RefOptions(), p => DinofLibrary.Shutdown(0)), null);
            using (var job = StartLong(m))
            {
                fails(DinofStatus.Timeout, () => DinofException.ThrowIfFailed(DinofNative.dinof_job_wait(job.Handle, 0)), null);
                fails(DinofStatus.NotReady, () => DinofException.ThrowIfFailed(DinofNative.dinof_job_report(job.Handle,
                    ref DummyReport)), null);
            }
        }
        using (var nan = DinofModel.Load(Fixture("bad-nan")))
            fails(DinofStatus.NonFinite, () => nan.Sample(new SampleOptions(1, 1) { Steps = 5 }), null);
        fails(DinofStatus.NullPointer, () => DinofException.ThrowIfFailed(DinofNative.dinof_model_get_info(
            new DinofModelHandle(), ref DummyInfo)), null);

        // What no test can provoke from outside: IO (an unreadable file needs a non-root user), BACKEND (a network
        // failing at run time), INTERNAL and PANIC (bugs). Their mapping is the same code path, checked in StatusNames.
        var untested = new[] { DinofStatus.Ok, DinofStatus.Io, DinofStatus.Backend, DinofStatus.Internal, DinofStatus.Panic };
        if (!ort) untested = untested.Concat(new[] { DinofStatus.ExecutionProviderUnavailable }).ToArray();
        var missing = Enum.GetValues(typeof(DinofStatus)).Cast<DinofStatus>().Where(s => !seen.Contains(s) && !untested.Contains(s));
        Check(!missing.Any(), "statuses not provoked: " + string.Join(", ", missing));
    }

    static dinof_sample_report DummyReport = new dinof_sample_report { struct_size = (uint)Marshal.SizeOf(typeof(dinof_sample_report)) };
    static dinof_model_info DummyInfo = new dinof_model_info { struct_size = (uint)Marshal.SizeOf(typeof(dinof_model_info)) };

    static void CallbackThrows()
    {
        using (var m = DinofModel.Load(Fixture("gauss-vp")))
        {
            int calls = 0;
            var boom = new InvalidOperationException("from the callback");
            var e = Throws<InvalidOperationException>(() => m.Sample(RefOptions(), p =>
            {
                if (++calls == 3) throw boom;
                return true;
            }), "callback exception");
            Check(ReferenceEquals(e, boom) && calls == 3, "the same exception, after exactly 3 calls: " + calls);
            // The model is fine afterwards.
            Check(Same(m.Sample(RefOptions()), reference), "sampling after a callback exception");
        }
    }

    static void JobCallbackThrows()
    {
        using (var m = DinofModel.Load(Fixture("gauss-vp")))
        using (var job = StartLong(m, p => { if (p.Step >= 2) throw new FormatException("job callback"); return true; }))
        {
            var e = Throws<FormatException>(() => job.Wait(), "job callback exception");
            Check(e.Message == "job callback" && job.Status == DinofStatus.Cancelled, "rethrown by Wait, job cancelled");
        }
    }

    static void LogHandler()
    {
        var messages = new List<string>();
        DinofLibrary.SetLogHandler((level, msg) => { lock (messages) messages.Add(level + ": " + msg); }, DinofLogLevel.Info);
        using (DinofModel.Load(Fixture("gauss-vp"))) { }
        Check(messages.Any(x => x.StartsWith("Info: ") && x.Contains("loaded bundle 'gauss-vp'")), "load logged: " + string.Join("|", messages));
        DinofLibrary.SetLogHandler((level, msg) => { throw new InvalidOperationException("log handler"); }, DinofLogLevel.Info);
        using (DinofModel.Load(Fixture("gauss-vp"))) { }
        Check(DinofLibrary.LastLogHandlerException is InvalidOperationException, "handler exception kept");
        DinofLibrary.SetLogHandler(null, DinofLogLevel.Error);
        Fails(DinofStatus.BadEnumValue, () => DinofLibrary.SetLogHandler((l, s) => { }, (DinofLogLevel)9));
    }

    static void Disposed()
    {
        var m = DinofModel.Load(Fixture("gauss-vp"));
        var job = m.Start(RefOptions());
        job.Wait();
        job.Dispose();
        job.Dispose();
        Check(job.IsDisposed, "job disposed");
        Throws<ObjectDisposedException>(() => { var p = job.Progress; }, "Progress of a disposed job");
        Throws<ObjectDisposedException>(() => job.Cancel(), "Cancel of a disposed job");
        Throws<ObjectDisposedException>(() => job.GetResultRgba8(), "result of a disposed job");
        m.Dispose();
        m.Dispose();
        Check(m.IsDisposed && m.Info.Name == "gauss-vp", "model disposed; its info is a managed copy");
        Throws<ObjectDisposedException>(() => m.Sample(RefOptions()), "Sample on a disposed model");
        Throws<ObjectDisposedException>(() => m.Start(RefOptions()), "Start on a disposed model");
        Throws<ObjectDisposedException>(() => { var h = m.Handle; }, "Handle of a disposed model");
        // The raw layer too: the marshaller refuses a closed SafeHandle before native code sees it.
        var closed = new DinofModelHandle();
        closed.Dispose();
        Throws<ObjectDisposedException>(() => DinofNative.dinof_model_get_info(closed, ref DummyInfo), "closed handle to P/Invoke");
    }

    static void JobOutlivesModel()
    {
        var m = DinofModel.Load(Fixture("gauss-vp"));
        var job = m.Start(RefOptions());
        m.Dispose();
        Throws<ObjectDisposedException>(() => m.Sample(RefOptions()), "the model handle is gone");
        Check(Same(job.GetResult(), reference), "the job finished on the model its reference kept alive");
        job.Dispose();
        Check(DinofLibrary.Shutdown(-1), "nothing left alive");
    }

    static void EightThreads()
    {
        using (var m = DinofModel.Load(Fixture("gauss-vp")))
        {
            var want = new float[8][];
            for (int t = 0; t < 8; t++) want[t] = m.Sample(new SampleOptions(2, (ulong)(100 + t)) { Steps = RefSteps });
            var got = new float[8][];
            var errors = new Exception[8];
            var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
            {
                try
                {
                    for (int r = 0; r < 3; r++)
                    {
                        var o = new SampleOptions(2, (ulong)(100 + t)) { Steps = RefSteps };
                        float[] x;
                        if (r == 1) using (var job = m.Start(o)) x = job.GetResult();
                        else x = m.Sample(o);
                        if (got[t] != null && !Same(got[t], x)) throw new Exception("thread " + t + " run " + r + " differs");
                        got[t] = x;
                    }
                }
                catch (Exception e) { errors[t] = e; }
            })).ToList();
            threads.ForEach(th => th.Start());
            threads.ForEach(th => th.Join());
            for (int t = 0; t < 8; t++)
            {
                Check(errors[t] == null, "thread " + t + ": " + errors[t]);
                Check(Same(got[t], want[t]), "thread " + t + " images");
            }
        }
    }

    // No Dispose anywhere: only the finalizers can free these. Run on a thread of its own, whose stack is gone
    // afterwards (Mono scans stacks conservatively, so a stale slot in this thread's frames could keep them).
    static WeakReference Forget()
    {
        var callbackState = new object();
        for (int k = 0; k < 4; k++)
        {
            var m = DinofModel.Load(Fixture("gauss-vp"));
            m.Sample(new SampleOptions(1, 1) { Steps = 3 });
            m.Start(new SampleOptions(2, 1) { Steps = 1000000 }, p => callbackState != null);  // left running
            m.Start(new SampleOptions(1, 1) { Steps = 3 });                                     // left finished
        }
        return new WeakReference(callbackState);
    }

    static void Finalizers()
    {
        Check(DinofLibrary.Shutdown(-1), "clean before the test");
        WeakReference state = null;
        var t = new Thread(() => state = Forget());
        t.Start();
        t.Join();
        Fails(DinofStatus.Busy, () => DinofLibrary.Shutdown(0), "model");
        for (int k = 0; k < 3; k++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        // dinof_shutdown says OK only when no model or job handle is alive, and joins the detached jobs' threads.
        Check(DinofLibrary.Shutdown(-1), "all threads joined");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Check(!state.IsAlive, "the job callback's GCHandle was freed with the job");
    }
}
