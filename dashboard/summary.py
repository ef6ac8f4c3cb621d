"""The final metrics every run reports, in the order the runs table shows them."""

GAP_METRICS = (("train_acc", "train accuracy"), ("test_acc", "test accuracy"),
               ("train_loss", "train loss"), ("test_loss", "test loss"))
