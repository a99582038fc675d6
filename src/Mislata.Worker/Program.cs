return await Mislata.Worker.WorkerHost.RunAsync(args);
