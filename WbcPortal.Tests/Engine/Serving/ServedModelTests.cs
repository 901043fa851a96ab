using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Inference.Serving;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Serving;

/// <summary>
/// Serving an exported classifier: concurrent requests share batched runs and get the logits a direct call gives; a lone
/// request runs at once on its caller's thread; a retired model finishes the requests holding it and is disposed after the
/// last; a cancelled request is dropped.
/// </summary>
public class ServedModelTests(ClassifierOnnxExportFixture fixture) : IClassFixture<ClassifierOnnxExportFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private OnnxClassifier NewClassifier() =>
        new(fixture.Sessions.Create(fixture.Exporter.Export(fixture.Model, fixture.Metadata with { RejectThreshold = 0.5 })), new BackboneRegistry([fixture.Backbones]));

    private static List<Image<Rgb24>> Images(int count) => Enumerable.Range(0, count).Select(i => TestImages.Smear(80, 60, 300 + i)).ToList();

    [Fact]
    public async Task Concurrent_requests_share_batched_runs_and_get_the_logits_of_a_direct_call()
    {
        var images = Images(20);
        try
        {
            using var direct = NewClassifier();
            var expected = direct.Logits(images);
            var model = ServedModel.Load("m", NewClassifier(), new MicroBatchOptions(TimeSpan.FromMilliseconds(50), 32));
            using (var lease = model.TryAcquire()!)
            {
                var answers = await Task.WhenAll(images.Select(image => Task.Run(() => lease.PredictAsync(image, Ct))));
                for (int i = 0; i < images.Count; i++)
                {
                    for (int c = 0; c < expected[i].Length; c++) Assert.Equal(expected[i][c], answers[i].Logits[c], 4);
                    Assert.Equal(1, answers[i].Probabilities.Sum(), 6);
                    Assert.Equal(answers[i].Decision.Confidence < 0.5, answers[i].Decision.Unidentified);
                }
                var (batches, served) = model.BatchCounts;
                Assert.Equal(20, served);
                Assert.True(batches < 20, $"{batches} runs for 20 concurrent images: nothing was batched");
            }
            model.Retire();
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }

    [Fact]
    public async Task A_lone_request_runs_at_once_on_its_callers_thread_and_concurrent_ones_still_share_runs()
    {
        var images = Images(20);
        try
        {
            using var direct = NewClassifier();
            var expected = direct.Logits(images);
            using var classifier = NewClassifier();
            await using var batcher = new MicroBatcher(classifier, new MicroBatchOptions(TimeSpan.Zero, 32));

            // Nobody else: answered before the call returns, with no hand-off to the worker.
            var lone = batcher.LogitsAsync(images[0], Ct);
            Assert.True(lone.IsCompletedSuccessfully);
            Assert.Equal(expected[0], await lone);
            Assert.Equal((1L, 1L), batcher.Counts);

            // Many at once: one run at a time, so those that come while one runs share the next.
            var answers = await Task.WhenAll(images.Select(image => Task.Run(() => batcher.LogitsAsync(image, Ct), Ct)));
            for (int i = 0; i < images.Count; i++)
                for (int c = 0; c < expected[i].Length; c++) Assert.Equal(expected[i][c], answers[i][c], 4);
            var (batches, served) = batcher.Counts;
            Assert.Equal(21, served);
            Assert.True(batches < 21, $"{batches} runs for 20 concurrent images and a lone one: nothing was batched");

            // Cancelled before it is asked: no run.
            using var cancelled = new CancellationTokenSource();
            cancelled.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => batcher.LogitsAsync(images[1], cancelled.Token));
            Assert.Equal(served, batcher.Counts.Images);
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }

    [Fact]
    public async Task A_retired_model_serves_the_leases_it_gave_and_is_disposed_after_the_last()
    {
        using var image = TestImages.Smear(80, 60, 7);
        var model = ServedModel.Load("m", NewClassifier());
        var lease = model.TryAcquire()!;
        model.Retire();
        Assert.Null(model.TryAcquire()); // no new leases
        Assert.False(model.IsDisposed);
        var answer = await lease.PredictAsync(image, Ct); // the lease still works
        Assert.Equal(4, answer.Probabilities.Count);
        lease.Dispose();
        lease.Dispose(); // returning twice counts once
        for (int i = 0; i < 100 && !model.IsDisposed; i++) await Task.Delay(20, Ct);
        Assert.True(model.IsDisposed);
    }

    [Fact]
    public async Task A_request_cancelled_before_its_run_is_dropped_and_the_others_are_answered()
    {
        using var classifier = NewClassifier();
        await using var batcher = new MicroBatcher(classifier, new MicroBatchOptions(TimeSpan.FromMilliseconds(200), 32));
        using var a = TestImages.Smear(80, 60, 1);
        using var b = TestImages.Smear(80, 60, 2);
        using var cancel = new CancellationTokenSource();
        var dropped = batcher.LogitsAsync(a, cancel.Token);
        var kept = batcher.LogitsAsync(b, Ct);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => dropped);
        Assert.Equal(4, (await kept).Length);
        Assert.Equal((1L, 1L), batcher.Counts);
        Assert.Throws<ArgumentException>(() => new MicroBatchOptions(TimeSpan.FromMilliseconds(1), 0).Validate());
    }
}
