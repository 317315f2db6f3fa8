"""Convert a trained radiance field into another field type by progressive volume distillation (PVD, PVD-AL).

    python apps/convert.py --checkpoint outputs/lego/hash/RUN/checkpoints/latest.safetensors --to mlp
    python apps/convert.py --checkpoint TEACHER --to siren --max-time 300 --active-learning --output outputs/siren
    python apps/convert.py --checkpoint TEACHER --to mlp --real-views --hard-rays --no-hard-poses

The student is an ordinary checkpoint: eval.py, render.py, view.py, export_mesh.py and train_nerf.py --resume
read it; its config.json records the teacher.
"""
from fields.distill import ConvertConfig, Distiller
from fields.run import run_app, user_errors


def main(config: ConvertConfig) -> int:
    with user_errors():  # ConvertError, scene errors and bad options are ValueError or FileNotFoundError
        distiller = Distiller(config)
    result = distiller.run()
    teacher_psnr = result.teacher["psnr"]
    if result.final_metrics is not None:
        versus = f" (teacher {teacher_psnr:.2f} dB)" if teacher_psnr is not None else ""
        print(f"student val (every {config.eval_every}th view, white background): PSNR "
              f"{result.final_metrics['psnr']:.2f} dB{versus}, SSIM {result.final_metrics['ssim']:.4f}")
    print(f"done: {result.step} steps in {result.train_seconds:.0f} s of distillation; outputs in {result.output}")
    return 0


if __name__ == "__main__":
    run_app(main, ConvertConfig, __doc__)
