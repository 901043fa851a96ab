using WbcPortal.Components.Pages.Training;
using WbcPortal.Engine.Training;

namespace WbcPortal.Tests.Components;

/// <summary>The training form carries every setting of a configuration: a preset loaded into the form and started is the preset.</summary>
public class TrainingFormTests
{
    [Theory]
    [InlineData("default")]
    [InlineData("study")]
    public void A_preset_round_trips_through_the_form_unchanged(string name)
    {
        var preset = TrainingPresets.Get(name);
        Assert.Equal(preset.ToJson(), TrainingForm.From(preset).ToConfig().ToJson());
    }

    [Fact]
    public void The_default_preset_crops_to_the_cell_and_the_form_keeps_it()
    {
        var form = TrainingForm.From(TrainingPresets.Get("default"));
        Assert.True(form.Crop);
        form.CropSize = 0.5;
        form.Tta = false;
        var config = form.ToConfig();
        Assert.Equal((true, 0.5), (config.Crop.Enabled, config.Crop.Size));
        Assert.False(config.TestTimeAugmentation);
        form.CropSize = 2;
        Assert.Contains("window size", Assert.Throws<ArgumentException>(() => form.ToConfig()).Message);
    }
}
